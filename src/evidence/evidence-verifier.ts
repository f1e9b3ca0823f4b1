/**
 * The offline verifier of CSV evidence exports and evidence packs (docs/audit-format.md, "Verifying an
 * export"). Streams: one row is held at a time, so a file of any size verifies in flat memory.
 */
import { createHash, KeyObject, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { genesisHash, isHashHex } from '../audit/audit-format';
import { verifyCheckpointStamp } from '../audit/witness/timestamp';
import { Checkpoint, checkpointMessage, checkpointSignatureValid, keyId, manifestSignatureValid } from './evidence-checkpoint';
import { COL, DERIVED_COLUMNS, derivedCells, EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18, type EvidenceColumn, LEGACY_EVIDENCE_COLUMNS, REDACTED_KEEP } from './evidence-csv';
import { PACK, PACK_FORMAT, PACK_FORMAT_V1, PACK_FORMAT_V2, PACK_FORMAT_V3, PACK_FORMAT_V4 } from './evidence-pack';
import { CsvRecordReader, CsvSyntaxError, csvField, csvRecord, MAX_RECORD_CHARS } from './csv-records';
import { CHAIN_LINE_FIELDS, canonicalOfLine, recordOfLine } from './chain-lines';
import { chainHashHex, isCanonicalForm, leafHashHex, subjectRefHex } from './verify-hashes';

export interface FileVerifyOptions {
  /** The chain must start at seq 1 from this tenant's genesis hash (`--genesis`). */
  genesisTenant?: string;
  /** The first row's prev_chain_hash must be this (`--prev`). */
  prevChainHash?: string;
  /** Verify the pack's checkpoint with this key instead of the pack's own (`--public-key`). */
  publicKey?: KeyObject;
  /**
   * Fail when any row is after the last signed checkpoint (or nothing is signed), or a pack's manifest is not
   * signed. Default: on for a pack, off for a bare CSV (which carries no signature of its own).
   */
  strict?: boolean;
  /** PEM certificates of the TSA the auditor trusts (`--tsa-cert`): the pack's checkpoint.tst is checked against them. */
  tsaCertificatesPem?: string[];
  /**
   * A checkpoint from an earlier pack (`--since OLD`): this file must extend it, holding the same chain hash at
   * its seq (or starting right after it from that hash). A fork after the earlier export fails.
   */
  since?: { seq: number; chainHash: string };
  /** A v4 pack: verify events.csv as a bare CSV is verified (every cell parsed and checked) instead of through chain.txt. */
  viaCsv?: boolean;
}

export interface CheckpointOutcome {
  status: 'verified' | 'absent';
  seq?: number;
  keyId?: string;
  /** Whose key verified it: the one given on the command line, or the one inside the pack. */
  keySource?: 'given' | 'pack';
  /** The TSA's time for the checkpoint: checked against a trusted certificate, present but unchecked, or none. */
  timestamp?: { status: 'verified'; genTime: string } | { status: 'unchecked' } | { status: 'absent' };
  /** Every checkpoint in the pack's range (checkpoints.jsonl, pack v3): how many, and how many carried a TSA token checked. */
  all?: { count: number; timestamped: number; timestampsChecked: boolean };
}

export type FileVerifyResult =
  | {
      ok: true;
      kind: 'csv' | 'zip';
      tenant: string | null;
      rows: number;
      redactedRows: number;
      firstSeq: number | null;
      lastSeq: number | null;
      /** Chain hash of the last row. */
      head: string | null;
      /** What anchors the first row: the tenant's genesis hash, a hash given, or nothing but the file itself. */
      start: 'genesis' | 'given' | 'unanchored' | 'none';
      checkpoint: CheckpointOutcome;
      /** The last seq a verified signature covers; null when none does. */
      signedToSeq: number | null;
      /** Rows after `signedToSeq` (all rows when nothing is signed): covered by no signature. */
      unsignedRows: number;
      /** A pack's manifest: signed and verified, or unsigned (a v1 pack, or the operator's CLI without the signing key). */
      manifest: 'signed' | 'unsigned' | 'none';
      /** Subjects shown blank, each explained by its `subject.erased` event in the file. */
      erasedSubjects: number;
      /** `--since`: the earlier checkpoint this file was shown to extend. */
      extends?: { seq: number };
    }
  | {
      ok: false;
      /** 1-based data row (header excluded); null for a problem with the file as a whole. */
      row: number | null;
      seq: number | null;
      reason: string;
    };

type Failure = Extract<FileVerifyResult, { ok: false }>;

class VerifyFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.reason);
  }
}

const fileProblem = (reason: string): never => {
  throw new VerifyFailure({ ok: false, row: null, seq: null, reason });
};

const DANGEROUS = new Set(['=', '+', '-', '@', '\t', '\r']);
/** The account id as it was before the spreadsheet-safety quote. */
const unquote = (cell: string) => (cell.length > 1 && cell[0] === "'" && DANGEROUS.has(cell[1]) ? cell.slice(1) : cell);
const SALT_HEX = /^[0-9a-f]{32}$/;

/**
 * Checks rows one at a time: seq continuity, hash formats, leaf and chain hashes, prev links,
 * the canonical text's own form, every display column against it, and the subject link.
 */
export class EvidenceChecker {
  tenant: string | null;
  rows = 0;
  redactedRows = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;
  head: string | null = null;
  /** Chain hashes to remember (a checkpoint's seq) → the value seen. */
  private readonly watch = new Map<number, string | null>();
  /** The latest event time up to a watched seq: a checkpoint cannot be signed before the events it covers. */
  private readonly watchAt = new Map<number, string | null>();
  private prevAt: string | null = null;
  /** Row 1 has seq 1 but the tenant is not known yet: its genesis link is checked once it is. */
  private pendingGenesis: string | null = null;

  /** The first row's prev_chain_hash (what anchors it). */
  firstPrev: string | null = null;
  /** Refs shown without their person (erased) → the first seq showing one; an erasure event clears its ref. */
  private readonly blankRefs = new Map<string, number>();
  private readonly erasedRefs = new Set<string>();
  /** A row shown by hashes only, in a filter that hides only by time: every later full row must be an erasure. */
  private hiddenSince: number | null = null;
  /** The header the file has: today's, the one before `stage` was added (18 columns), or before `workflow_title` (17). */
  private columns: readonly EvidenceColumn[] = EVIDENCE_COLUMNS;

  constructor(
    private readonly opts: {
      tenant?: string | null;
      prevChainHash?: string;
      genesisRequired?: boolean;
      /**
       * The signed filter of a pack: every full row (but erasures) must be inside it, and a row may be hidden
       * only where the filter hides it. Null: the manifest is unsigned, so no row may be hidden (`noHidden`).
       */
      filter?: { space: string | null; from: string | null; to: string | null } | null;
      noHidden?: boolean;
    } = {},
  ) {
    this.tenant = opts.tenant ?? null;
  }

  /** After the last row: every blank subject must be explained by a `subject.erased` event in the file. */
  finish(): void {
    for (const [ref, seq] of this.blankRefs) {
      if (this.erasedRefs.has(ref)) continue;
      const row = this.firstSeq === null ? null : seq - this.firstSeq + 1;
      throw new VerifyFailure({
        ok: false,
        row,
        seq,
        reason: `row ${row} (seq ${seq}): actor_ref ${ref} is shown without its person, but no subject.erased event for it is in the file: the link was removed without an erasure`,
      });
    }
  }

  get erasedSubjects(): number {
    return this.erasedRefs.size;
  }

  watchSeq(seq: number): void {
    this.watch.set(seq, null);
  }

  chainHashSeen(seq: number): string | null {
    return this.watch.get(seq) ?? null;
  }

  /** The `at` of the last full row at or before the watched seq (null: only hash-only rows up to it). */
  latestAtUpTo(seq: number): string | null {
    return this.watchAt.get(seq) ?? null;
  }

  header(record: string[]): void {
    const known = [EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18, LEGACY_EVIDENCE_COLUMNS].find((h) => record.length === h.length && record.every((c, i) => c === h[i]));
    if (!known) fileProblem(`the header row is not the evidence CSV header (expected: ${EVIDENCE_COLUMNS.join(',')})`);
    this.columns = known!;
  }

  /**
   * One row. `parsed`: the canonical text as the caller already read it with JSON.parse, the record's display
   * cells having been derived from it (a pack's chain.txt, whose CSV is then compared byte for byte).
   */
  /** A failure of row `rowNo` (a method, not a closure per row: the verifier's hot path). */
  private bad(rowNo: number, seq: number | null, reason: string): never {
    throw new VerifyFailure({ ok: false, row: rowNo, seq, reason: `row ${rowNo}${seq !== null ? ` (seq ${seq})` : ''}: ${reason}` });
  }

  row(record: string[], parsed?: Record<string, unknown>): void {
    const rowNo = this.rows + 1;
    const seqCell = record[COL.seq] ?? '';
    const seq = /^[1-9]\d{0,15}$/.test(seqCell) ? Number(seqCell) : null;
    const columns = this.columns;
    if (record.length !== columns.length) this.bad(rowNo, seq, `has ${record.length} columns, expected ${columns.length}`);
    if (seq === null) this.bad(rowNo, seq, `seq ${JSON.stringify(seqCell)} is not a positive whole number`);
    if (this.lastSeq !== null && seq !== this.lastSeq + 1) {
      this.bad(rowNo, seq, `expected seq ${this.lastSeq + 1}, found seq ${seq}: a row is ${seq! > this.lastSeq + 1 ? 'missing' : 'repeated or out of order'}`);
    }
    for (const c of ['leaf_hash', 'prev_chain_hash', 'chain_hash'] as const) {
      if (!isHashHex(record[COL[c]])) this.bad(rowNo, seq, `${c} is not 64 lower-case hex characters`);
    }
    const leaf = record[COL.leaf_hash];
    const prev = record[COL.prev_chain_hash];
    const chain = record[COL.chain_hash];

    if (this.head !== null) {
      if (prev !== this.head) this.bad(rowNo, seq, `prev_chain_hash is not the chain hash of seq ${seq! - 1}`);
    } else if (this.opts.prevChainHash !== undefined) {
      if (prev !== this.opts.prevChainHash) this.bad(rowNo, seq, 'prev_chain_hash is not the hash given with --prev');
    } else if (this.opts.genesisRequired && seq !== 1) {
      this.bad(rowNo, seq, 'the chain must start at seq 1 (--genesis)');
    }
    if (this.head === null && this.opts.prevChainHash === undefined && seq === 1) {
      if (this.tenant !== null) {
        if (prev !== genesisHash(this.tenant).toString('hex')) this.bad(rowNo, seq, `prev_chain_hash is not the genesis hash of tenant ${this.tenant}`);
      } else {
        this.pendingGenesis = prev;
      }
    }
    if (chainHashHex(prev, leaf) !== chain) {
      this.bad(rowNo, seq, 'chain_hash is not SHA-256(0x01 ‖ prev_chain_hash ‖ leaf_hash)');
    }

    if (this.firstPrev === null) this.firstPrev = prev;
    const canonical = record[COL.canonical];
    const filter = this.opts.filter;
    if (canonical === '') {
      const extra = columns.find((c, i) => record[i] !== '' && !REDACTED_KEEP.includes(c));
      if (extra) this.bad(rowNo, seq, `a row without canonical text has a ${extra} value`);
      if (this.opts.noHidden) this.bad(rowNo, seq, 'is shown by hashes only, but the manifest is not signed: nobody vouches that it is outside the export\'s filter');
      if (filter && filter.space === null && filter.to === null) this.bad(rowNo, seq, 'is shown by hashes only, but the signed filter hides no row (no space, no end time)');
      if (filter && filter.space === null && this.hiddenSince === null) this.hiddenSince = seq;
      this.redactedRows++;
    } else {
      if (leafHashHex(canonical) !== leaf) this.bad(rowNo, seq, 'leaf hash does not match canonical');
      let doc: Record<string, unknown>;
      try {
        doc = parsed ?? JSON.parse(canonical);
      } catch {
        return this.bad(rowNo, seq, 'canonical is not valid JSON');
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) this.bad(rowNo, seq, 'canonical is not a JSON object');
      if (!isCanonicalForm(doc, canonical)) this.bad(rowNo, seq, 'canonical is not in RFC 8785 form');
      if (doc.v !== 1) this.bad(rowNo, seq, `canonical has format version ${JSON.stringify(doc.v)}, expected 1`);
      if (doc.seq !== seq) this.bad(rowNo, seq, `canonical says seq ${JSON.stringify(doc.seq)}`);
      if (typeof doc.tenant !== 'string') this.bad(rowNo, seq, 'canonical has no tenant');
      if (this.tenant === null) {
        this.tenant = doc.tenant as string;
        if (this.pendingGenesis !== null && this.pendingGenesis !== genesisHash(this.tenant).toString('hex')) {
          throw new VerifyFailure({ ok: false, row: 1, seq: 1, reason: `row 1 (seq 1): prev_chain_hash is not the genesis hash of tenant ${this.tenant}` });
        }
        this.pendingGenesis = null;
      } else if (doc.tenant !== this.tenant) {
        this.bad(rowNo, seq, `canonical belongs to tenant ${JSON.stringify(doc.tenant)}, not ${JSON.stringify(this.tenant)}`);
      }
      if (!parsed) {
        const cells = derivedCells(doc);
        for (const c of DERIVED_COLUMNS) {
          // A legacy header lacks the trailing columns added since; every column it has is checked.
          if (COL[c] < columns.length && record[COL[c]] !== cells[c]) this.bad(rowNo, seq, `${c} column does not match canonical`);
        }
      }
      if (typeof doc.at === 'string' && this.prevAt !== null && doc.at < this.prevAt) this.bad(rowNo, seq, `at ${doc.at} is before an earlier event's ${this.prevAt}`);
      this.prevAt = typeof doc.at === 'string' ? doc.at : this.prevAt;
      const erasure = doc.action === 'subject.erased';
      if (erasure) {
        const ref = (doc.data as { ref?: unknown } | null | undefined)?.ref;
        if (typeof ref === 'string' && ref) this.erasedRefs.add(ref);
      } else if (filter) {
        const at = typeof doc.at === 'string' ? Date.parse(doc.at) : NaN;
        if (filter.space !== null && doc.space !== filter.space) this.bad(rowNo, seq, `is shown in full but belongs to space ${JSON.stringify(doc.space ?? null)}, outside the signed filter (space ${filter.space})`);
        if (filter.from !== null && !(at >= Date.parse(filter.from))) this.bad(rowNo, seq, `is shown in full but was recorded at ${doc.at}, before the signed filter's start ${filter.from}`);
        if (filter.to !== null && !(at < Date.parse(filter.to))) this.bad(rowNo, seq, `is shown in full but was recorded at ${doc.at}, after the signed filter's end ${filter.to}`);
        if (this.hiddenSince !== null) this.bad(rowNo, seq, `is shown in full after seq ${this.hiddenSince} was hidden, though the signed filter hides only by time: seq ${this.hiddenSince} is in range and was hidden`);
      }
      const account = record[COL.actor_account_id];
      const salt = record[COL.actor_salt];
      const actorRef = record[COL.actor_ref];
      if (account === '' && actorRef !== '' && !this.blankRefs.has(actorRef) && !erasure) this.blankRefs.set(actorRef, seq!);
      if ((account === '') !== (salt === '')) this.bad(rowNo, seq, 'actor_account_id and actor_salt must both be present or both empty');
      if (account !== '') {
        if (record[COL.actor_ref] === '') this.bad(rowNo, seq, 'actor_account_id given for an event without an actor_ref');
        if (!SALT_HEX.test(salt)) this.bad(rowNo, seq, 'actor_salt is not 32 lower-case hex characters');
        if (subjectRefHex(salt, unquote(account)) !== record[COL.actor_ref]) {
          this.bad(rowNo, seq, 'actor_ref is not SHA-256(actor_salt ‖ actor_account_id)');
        }
      }
    }
    if (this.watch.has(seq!)) {
      this.watch.set(seq!, chain);
      this.watchAt.set(seq!, this.prevAt);
    }
    if (this.firstSeq === null) this.firstSeq = seq;
    this.lastSeq = seq;
    this.head = chain;
    this.rows++;
  }

  /** How the first row is anchored, once every row is in. */
  start(): 'genesis' | 'given' | 'unanchored' | 'none' {
    if (this.rows === 0) return 'none';
    if (this.opts.prevChainHash !== undefined) return 'given';
    if (this.firstSeq === 1 && this.tenant !== null && this.pendingGenesis === null) return 'genesis';
    return 'unanchored';
  }
}

/** Digest of what flows through (the pack's events.csv against its manifest). */
class Sha256Tap extends Transform {
  private readonly h = createHash('sha256');
  hex = '';
  _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk);
    cb(null, chunk);
  }
  _flush(cb: TransformCallback): void {
    this.hex = this.h.digest('hex');
    cb();
  }
}

/** Feeds a CSV byte stream through the checker (the strict RFC 4180 reader: csv-records.ts). */
async function checkCsv(input: Readable, checker: EvidenceChecker): Promise<void> {
  const reader = new CsvRecordReader();
  const decoder = new StringDecoder('utf8');
  let header = true;
  const take = (records: string[][]) => {
    for (const record of records) {
      if (header) {
        checker.header(record);
        header = false;
      } else {
        checker.row(record);
      }
    }
  };
  try {
    for await (const chunk of input) take(reader.push(decoder.write(chunk as Buffer)));
    take(reader.push(decoder.end()));
    take(reader.end());
  } catch (err) {
    if (err instanceof CsvSyntaxError) fileProblem(`the CSV cannot be parsed after row ${checker.rows}: ${err.message}`);
    throw err;
  } finally {
    input.destroy();
  }
  if (header) fileProblem('the file is empty (no header row)');
}

/** events.csv read alongside chain.txt: its next bytes compared with what the chain lines derive. */
class CsvComparison {
  private readonly it: AsyncIterator<Buffer>;
  private cur: Buffer = Buffer.alloc(0);
  private off = 0;
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /**
   * -1 when the file's next bytes are `expected`, else the offset in `expected` of the first byte that differs
   * (or that the file lacks). It stops reading at the first difference.
   */
  async next(expected: Buffer): Promise<number> {
    let at = 0;
    while (at < expected.length) {
      if (this.off >= this.cur.length) {
        const r = await this.it.next();
        if (r.done) return at;
        this.cur = r.value;
        this.off = 0;
        continue;
      }
      const n = Math.min(expected.length - at, this.cur.length - this.off);
      if (expected.compare(this.cur, this.off, this.off + n, at, at + n) !== 0) {
        let i = 0;
        while (expected[at + i] === this.cur[this.off + i]) i++;
        return at + i;
      }
      at += n;
      this.off += n;
    }
    return -1;
  }

  /** Whether the file ends here. */
  async atEnd(): Promise<boolean> {
    while (this.off >= this.cur.length) {
      const r = await this.it.next();
      if (r.done) return true;
      this.cur = r.value;
      this.off = 0;
    }
    return false;
  }
}

/**
 * A v4 pack's rows, read from chain.txt: every line through the checker (hashes, links, canonical form,
 * subjects, filter), and events.csv compared with the CSV the lines derive, so that every cell the CSV shows
 * is proven without parsing it. Returns the first row where events.csv differs (row 0: the header; seq null:
 * the CSV ends early or goes on), or null when it is exactly the derived CSV.
 */
async function checkChainFile(
  chain: Readable,
  csv: Readable,
  checker: EvidenceChecker,
  columns: readonly EvidenceColumn[],
): Promise<{ mismatch: { row: number; seq: number | null } | null }> {
  const cmp = new CsvComparison(csv);
  let mismatch: { row: number; seq: number | null } | null = (await cmp.next(Buffer.from(csvRecord(columns), 'utf8'))) < 0 ? null : { row: 0, seq: null };
  // A v4 pack's events.csv ends before the columns added since (`stage`).
  const width = columns.length;
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  for await (const chunk of chain) {
    buffered += decoder.write(chunk as Buffer);
    // The CSV of this chunk's lines, compared in one piece.
    const firstRow = checker.rows + 1;
    const seqs: number[] = [];
    const texts: string[] = [];
    let from = 0;
    let nl: number;
    while ((nl = buffered.indexOf('\n', from)) >= 0) {
      const record = checkLine(buffered.slice(from, nl), checker);
      from = nl + 1;
      if (mismatch === null) {
        texts.push(csvOfCheckedRecord(record.length === width ? record : record.slice(0, width)));
        seqs.push(checker.lastSeq!);
      }
    }
    buffered = buffered.slice(from);
    if (buffered.length > MAX_RECORD_CHARS) fileProblem(`${PACK.chain} line ${checker.rows + 1} is too long`);
    if (mismatch === null && texts.length) {
      const at = await cmp.next(Buffer.from(texts.join(''), 'utf8'));
      if (at >= 0) {
        // The row whose bytes hold the first difference (at < the chunk's length: it did not all match).
        let end = 0;
        let i = 0;
        for (; i < texts.length - 1; i++) {
          end += Buffer.byteLength(texts[i], 'utf8');
          if (end > at) break;
        }
        mismatch = { row: firstRow + i, seq: seqs[i] };
      }
    }
  }
  buffered += decoder.end();
  if (buffered !== '') fileProblem(`${PACK.chain} does not end with a line break`);
  if (mismatch === null && !(await cmp.atEnd())) mismatch = { row: checker.rows + 1, seq: null };
  return { mismatch };
}

/** One chain.txt line through the checker; returns the CSV record it stands for. */
function checkLine(line: string, checker: EvidenceChecker): string[] {
  const rowNo = checker.rows + 1;
  const text = canonicalOfLine(line);
  let doc: Record<string, unknown> | undefined;
  if (text) {
    try {
      const v: unknown = JSON.parse(text);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) doc = v as Record<string, unknown>;
    } catch {
      // The checker names it (after the leaf hash, as for a CSV row).
    }
  }
  const record = recordOfLine(line, doc ?? null);
  if (!record) throw new VerifyFailure({ ok: false, row: rowNo, seq: null, reason: `${PACK.chain} line ${rowNo} is not ${CHAIN_LINE_FIELDS.length} tab-separated fields` });
  checker.row(record, doc);
  return record;
}

/** The cells the checker held to digits and hex (seq, salt, hashes) need no quoting: csvRecord for a checked record. */
const PLAIN = new Set<number>([COL.seq, COL.actor_salt, COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash]);
function csvOfCheckedRecord(record: string[]): string {
  let out = record[0];
  for (let i = 1; i < record.length; i++) out += `,${PLAIN.has(i) ? record[i] : csvField(record[i])}`;
  return `${out}\r\n`;
}

/**
 * `--since`: the file holds the earlier checkpoint's chain hash at its seq, or starts right after it from that
 * hash. Anything else is a fork (or a range that cannot show the link: then export one that does).
 */
function checkSince(c: EvidenceChecker, since: { seq: number; chainHash: string }): void {
  const first = c.firstSeq;
  const last = c.lastSeq;
  if (first === null || last === null) fileProblem(`--since: the file has no rows, so it cannot extend the checkpoint at seq ${since.seq}`);
  if (since.seq > last!) fileProblem(`--since: the file ends at seq ${last}, before the earlier checkpoint at seq ${since.seq}: it does not extend it`);
  if (since.seq === first! - 1) {
    if (c.firstPrev !== since.chainHash) fileProblem(`--since: the file starts after seq ${since.seq} from another chain hash than the earlier checkpoint's: the history was forked`);
    return;
  }
  if (since.seq < first! - 1) fileProblem(`--since: the file starts at seq ${first}, after the earlier checkpoint at seq ${since.seq}: export a range that includes seq ${since.seq}`);
  if (c.chainHashSeen(since.seq) !== since.chainHash) {
    throw new VerifyFailure({
      ok: false,
      row: since.seq - first! + 1,
      seq: since.seq,
      reason: `row ${since.seq - first! + 1} (seq ${since.seq}): chain_hash is not the one the earlier checkpoint signed: the history was rewritten or forked after the earlier export`,
    });
  }
}

/**
 * The verdict once every row checked out: how far signatures reach, and under `strict` a failure for
 * rows no signature covers or a manifest nobody signed.
 */
function success(
  kind: 'csv' | 'zip',
  c: EvidenceChecker,
  checkpoint: CheckpointOutcome,
  manifest: 'signed' | 'unsigned' | 'none',
  strict: boolean,
  since?: { seq: number },
  v1Unsigned = false,
): FileVerifyResult {
  const signedToSeq = checkpoint.status === 'verified' ? checkpoint.seq! : null;
  const unsignedRows = c.lastSeq === null ? 0 : signedToSeq === null ? c.rows : c.lastSeq - signedToSeq;
  if (strict && unsignedRows > 0) {
    const from = signedToSeq === null ? c.firstSeq! : signedToSeq + 1;
    const reach = signedToSeq === null ? 'no signed checkpoint covers any row' : `signatures reach seq ${signedToSeq}`;
    return {
      ok: false,
      row: c.rows - unsignedRows + 1,
      seq: from,
      reason: `seq ${from}..${c.lastSeq} (${unsignedRows} rows) are covered by no signature: ${reach}${kind === 'csv' ? ' (a CSV carries none: verify the evidence pack)' : ''}`,
    };
  }
  if (strict && v1Unsigned) {
    return { ok: false, row: null, seq: null, reason: `manifest.json is not signed (pack format ${PACK_FORMAT_V1}): its filters and seq range are unproven (--no-strict accepts it)` };
  }
  // Last: rows cut from the end are named as such, not by the erasure event they took with them.
  try {
    c.finish();
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  }
  return {
    ok: true,
    kind,
    tenant: c.tenant,
    rows: c.rows,
    redactedRows: c.redactedRows,
    firstSeq: c.firstSeq,
    lastSeq: c.lastSeq,
    head: c.head,
    start: c.start(),
    checkpoint,
    signedToSeq,
    unsignedRows,
    manifest,
    erasedSubjects: c.erasedSubjects,
    ...(since ? { extends: { seq: since.seq } } : {}),
  };
}

function checkerFor(opts: FileVerifyOptions, tenant: string | null, pack?: Pick<ConstructorParameters<typeof EvidenceChecker>[0] & object, 'filter' | 'noHidden'>): EvidenceChecker {
  if (opts.genesisTenant !== undefined && opts.prevChainHash !== undefined) throw new TypeError('give either a genesis tenant or a prev hash, not both');
  if (opts.prevChainHash !== undefined && !isHashHex(opts.prevChainHash)) throw new TypeError('the prev hash must be 64 lower-case hex characters');
  return new EvidenceChecker({
    tenant: opts.genesisTenant ?? tenant,
    prevChainHash: opts.prevChainHash,
    genesisRequired: opts.genesisTenant !== undefined,
    ...pack,
  });
}

/** Verifies a bare CSV export read from `input`. */
export async function verifyEvidenceCsv(input: Readable, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  const checker = checkerFor(opts, null);
  if (opts.since) checker.watchSeq(opts.since.seq);
  try {
    await checkCsv(input, checker);
    if (opts.since) checkSince(checker, opts.since);
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  }
  return success('csv', checker, { status: 'absent' }, 'none', opts.strict ?? false, opts.since);
}

interface Manifest {
  format: string;
  tenant: string;
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoint: { seq: number } | null;
  files: Record<string, { sha256: string; bytes: number }>;
  redactedRows?: number;
  filters?: { space?: unknown; from?: unknown; to?: unknown } | null;
  /** v3: false when the operator's CLI wrote the pack without the signing key. */
  manifestSigned?: boolean;
  /** v3: how many lines checkpoints.jsonl holds. */
  checkpoints?: number;
}

/** One line of checkpoints.jsonl. */
interface PackCheckpoint {
  seq: number;
  chainHash: string;
  signedAt: string;
  keyId: string;
  signature: string;
  timestampToken: string | null;
}

const MAX_CHECKPOINT_LINE = 64 * 1024;

const MAX_SMALL_ENTRY = 1 << 20;

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, zf) => (err ? reject(err) : resolve(zf!))),
  );
}

async function zipEntries(zf: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zf.on('entry', (e: yauzl.Entry) => {
      if (entries.has(e.fileName)) reject(new VerifyFailure({ ok: false, row: null, seq: null, reason: `the pack holds ${e.fileName} twice` }));
      entries.set(e.fileName, e);
      zf.readEntry();
    });
    zf.on('end', () => resolve());
    zf.on('error', reject);
    zf.readEntry();
  });
  return entries;
}

async function readSmall(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  if (entry.uncompressedSize > MAX_SMALL_ENTRY) fileProblem(`${entry.fileName} is too large`);
  const stream = await zf.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A large entry, inflated in 256 KiB pieces (yauzl's own inflater hands back 16 KiB at a time, and the verifier
 * pays per piece). Its size is held to the zip's record, as yauzl does; its content to the manifest's digest.
 */
async function openLarge(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  if (!entry.isCompressed()) return zf.openReadStreamPromise(entry);
  const raw = await zf.openReadStreamPromise(entry, { decompress: false });
  const inflate = createInflateRaw({ chunkSize: 1 << 18 });
  let bytes = 0;
  const sized = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > entry.uncompressedSize) return cb(new Error(`${entry.fileName} inflates to more than its recorded size`));
      cb(null, chunk);
    },
    flush(cb) {
      cb(bytes === entry.uncompressedSize ? null : new Error(`${entry.fileName} inflates to ${bytes} bytes, not its recorded ${entry.uncompressedSize}`));
    },
  });
  raw.on('error', (err) => inflate.destroy(err));
  inflate.on('error', (err) => sized.destroy(err));
  return raw.pipe(inflate).pipe(sized);
}

/** SHA-256 of a zip entry of any size, streamed. */
async function entryDigest(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await zf.openReadStreamPromise(entry)) h.update(c as Buffer);
  return h.digest('hex');
}

function parseJson<T>(name: string, buf: Buffer): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return fileProblem(`${name} is not valid JSON`);
  }
}

/** Verifies an evidence pack (zip): file digests, manifest, every row, and the signed checkpoint. */
export async function verifyEvidencePack(file: string, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  let zf: yauzl.ZipFile;
  try {
    zf = await openZip(file);
  } catch (err) {
    return { ok: false, row: null, seq: null, reason: `the file is not a readable zip: ${(err as Error).message}` };
  }
  try {
    const entries = await zipEntries(zf);
    const need = (name: string) => entries.get(name) ?? fileProblem(`the pack has no ${name}`);
    const manifestBytes = await readSmall(zf, need(PACK.manifest));
    const manifest = parseJson<Manifest>(PACK.manifest, manifestBytes);
    if (![PACK_FORMAT, PACK_FORMAT_V4, PACK_FORMAT_V3, PACK_FORMAT_V2, PACK_FORMAT_V1].includes(manifest.format)) {
      fileProblem(`manifest.json format is ${JSON.stringify(manifest.format)}, expected ${PACK_FORMAT}`);
    }
    if (typeof manifest.tenant !== 'string' || !manifest.files || typeof manifest.files !== 'object') fileProblem('manifest.json is incomplete');
    if (opts.genesisTenant !== undefined && opts.genesisTenant !== manifest.tenant) {
      fileProblem(`the pack is for tenant ${JSON.stringify(manifest.tenant)}, not ${JSON.stringify(opts.genesisTenant)}`);
    }
    // One key checks both signatures: the one given on the command line, else the pack's own.
    let key = opts.publicKey;
    const keySource: 'given' | 'pack' = key ? 'given' : 'pack';
    if (!key && entries.has(PACK.publicKey)) {
      try {
        key = createPublicKey(await readSmall(zf, entries.get(PACK.publicKey)!));
      } catch {
        fileProblem(`${PACK.publicKey} is not a public key`);
      }
    }
    const whose = () => `the ${keySource === 'given' ? 'public key given' : "pack's public key"} (key id ${keyId(key!)})`;
    let manifestState: 'signed' | 'unsigned' = 'unsigned';
    // v4 and later carry chain.txt.
    const v4 = manifest.format === PACK_FORMAT || manifest.format === PACK_FORMAT_V4;
    const v3 = v4 || manifest.format === PACK_FORMAT_V3;
    const mustBeSigned = manifest.format === PACK_FORMAT_V2 || (v3 && manifest.manifestSigned !== false);
    if (mustBeSigned || entries.has(PACK.manifestSignature)) {
      const sig = entries.get(PACK.manifestSignature) ?? fileProblem(`the pack has no ${PACK.manifestSignature}: its manifest is not signed`);
      if (!key) fileProblem(`the pack has no ${PACK.publicKey}; pass --public-key`);
      if (!manifestSignatureValid(key!, manifest.tenant, manifestBytes, await readSmall(zf, sig))) {
        fileProblem(`the manifest signature does not verify with ${whose()}: manifest.json was changed after it was signed, or signed with another key`);
      }
      manifestState = 'signed';
    }
    if (!manifest.files[PACK.events]) fileProblem(`manifest.json lists no ${PACK.events}`);
    if (v3 && (manifest.rows ?? 0) > 0 && !manifest.files[PACK.checkpoints]) fileProblem(`manifest.json lists no ${PACK.checkpoints}`);
    // Every small file listed must match its digest; events.csv and checkpoints.jsonl are hashed while they stream,
    // and so is report.html, which grows with the pages in scope (megabytes over a large site) and is not read here.
    const small = new Map<string, Buffer>();
    for (const [name, f] of Object.entries(manifest.files)) {
      if (name === PACK.events || name === PACK.checkpoints || name === PACK.chain) continue;
      if (name === PACK.report) {
        if ((await entryDigest(zf, need(name))) !== f.sha256) fileProblem(`${name} does not match its SHA-256 in manifest.json`);
        continue;
      }
      const buf = await readSmall(zf, need(name));
      if (createHash('sha256').update(buf).digest('hex') !== f.sha256) fileProblem(`${name} does not match its SHA-256 in manifest.json`);
      small.set(name, buf);
    }
    for (const name of [PACK.checkpoints, PACK.checkpoint, PACK.chain, PACK.report]) {
      if (entries.has(name) && !manifest.files[name]) fileProblem(`the pack holds a ${name} that manifest.json does not list`);
    }

    let checkpoint: Checkpoint | null = null;
    const cpBuf = small.get(PACK.checkpoint);
    if (cpBuf) {
      checkpoint = parseJson<Checkpoint>(PACK.checkpoint, cpBuf);
      if (checkpoint.tenant !== manifest.tenant) fileProblem(`the checkpoint is for tenant ${JSON.stringify(checkpoint.tenant)}`);
      if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 1 || !isHashHex(checkpoint.chainHash) || typeof checkpoint.signedAt !== 'string') {
        fileProblem('checkpoint.json is malformed');
      }
    }
    const all = manifest.files[PACK.checkpoints]
      ? await readCheckpoints(zf, need(PACK.checkpoints), manifest, key, whose, opts.tsaCertificatesPem)
      : null;
    if (all && checkpoint) {
      const last = all.list[all.list.length - 1];
      if (!last || last.seq !== checkpoint.seq || last.chainHash !== checkpoint.chainHash || last.signedAt !== checkpoint.signedAt) {
        fileProblem(`${PACK.checkpoints} does not end with the checkpoint in ${PACK.checkpoint}`);
      }
    }
    if (all && !checkpoint && all.list.length) fileProblem(`${PACK.checkpoints} lists checkpoints but the pack has no ${PACK.checkpoint}`);

    // A signed manifest vouches for its filter, so the rows must agree with it; an unsigned one may hide no row.
    let filter: { space: string | null; from: string | null; to: string | null } | null = null;
    if (manifestState === 'signed' && manifest.filters && typeof manifest.filters === 'object') {
      const f = manifest.filters;
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      filter = { space: str(f.space), from: str(f.from), to: str(f.to) };
    }
    const strict = opts.strict ?? true;
    const checker = checkerFor(opts, manifest.tenant, { filter, noHidden: manifestState === 'unsigned' && strict && manifest.format !== PACK_FORMAT_V1 });
    if (checkpoint) checker.watchSeq(checkpoint.seq);
    for (const c of all?.list ?? []) checker.watchSeq(c.seq);
    if (opts.since) checker.watchSeq(opts.since.seq);
    const chainListed = manifest.files[PACK.chain];
    if (v4 && !chainListed) fileProblem(`manifest.json lists no ${PACK.chain}`);
    if (v4 && !opts.viaCsv) {
      // chain.txt is proven row by row (hashes to the signed checkpoints, digest in the signed manifest), and
      // events.csv must be byte for byte the CSV it derives: every cell the CSV shows is then proven too.
      const chainTap = new Sha256Tap();
      const chain = await openLarge(zf, need(PACK.chain));
      chain.on('error', (err) => chainTap.destroy(err));
      const csv = await openLarge(zf, need(PACK.events));
      let mismatch: { row: number; seq: number | null } | null;
      try {
        ({ mismatch } = await checkChainFile(chain.pipe(chainTap), csv, checker, manifest.format === PACK_FORMAT_V4 ? EVIDENCE_COLUMNS_V18 : EVIDENCE_COLUMNS));
      } finally {
        csv.destroy();
        chainTap.destroy();
      }
      if (chainTap.hex !== chainListed.sha256) fileProblem(`${PACK.chain} does not match its SHA-256 in manifest.json`);
      if (mismatch) {
        // Say which file was changed: events.csv against its own digest first.
        if ((await entryDigest(zf, need(PACK.events))) !== manifest.files[PACK.events].sha256) fileProblem(`${PACK.events} does not match its SHA-256 in manifest.json`);
        const what =
          mismatch.row === 0
            ? 'the header row of events.csv is not the evidence CSV header'
            : mismatch.seq === null
              ? `events.csv does not end where ${PACK.chain} does (after row ${mismatch.row - 1})`
              : `row ${mismatch.row} (seq ${mismatch.seq}): events.csv does not show what ${PACK.chain} holds for this row`;
        throw new VerifyFailure({
          ok: false,
          row: mismatch.row === 0 ? null : mismatch.row,
          seq: mismatch.seq,
          reason: `${what}: the two files disagree, though the manifest signs both`,
        });
      }
    } else {
      const tap = new Sha256Tap();
      const events = await zf.openReadStreamPromise(need(PACK.events));
      events.on('error', (err) => tap.destroy(err));
      await checkCsv(events.pipe(tap), checker);
      if (tap.hex !== manifest.files[PACK.events].sha256) fileProblem(`${PACK.events} does not match its SHA-256 in manifest.json`);
      if (chainListed && (await entryDigest(zf, need(PACK.chain))) !== chainListed.sha256) fileProblem(`${PACK.chain} does not match its SHA-256 in manifest.json`);
    }
    if (manifest.rows !== checker.rows || manifest.firstSeq !== checker.firstSeq || manifest.lastSeq !== checker.lastSeq) {
      fileProblem(
        `manifest.json says ${manifest.rows} rows, seq ${manifest.firstSeq}..${manifest.lastSeq}; ${PACK.events} has ${checker.rows} rows, seq ${checker.firstSeq}..${checker.lastSeq}`,
      );
    }
    if (manifest.redactedRows !== undefined && manifest.redactedRows !== checker.redactedRows) {
      fileProblem(`manifest.json says ${manifest.redactedRows} rows are shown by hashes only; ${PACK.events} has ${checker.redactedRows}`);
    }
    if (opts.since) checkSince(checker, opts.since);
    const v1Unsigned = manifestState === 'unsigned' && manifest.format === PACK_FORMAT_V1;

    if (!checkpoint) return success('zip', checker, { status: 'absent' }, manifestState, strict, opts.since, v1Unsigned);
    if (checker.lastSeq === null || checker.lastSeq < checkpoint.seq) {
      throw new VerifyFailure({
        ok: false,
        row: checker.rows,
        seq: checker.lastSeq,
        reason: `the rows end at seq ${checker.lastSeq ?? 'none'} but the signed checkpoint is at seq ${checkpoint.seq}: rows are missing from the end`,
      });
    }
    if (checkpoint.seq < (checker.firstSeq ?? 0)) fileProblem(`the checkpoint (seq ${checkpoint.seq}) is before the first row (seq ${checker.firstSeq})`);
    if (!key) fileProblem(`the pack has a checkpoint but no ${PACK.publicKey}; pass --public-key`);
    // Every checkpoint in range (v3), else the last one alone: its chain hash at its seq, its signature, and no
    // event it covers dated after it was signed (events are appended before the checkpoint that covers them).
    for (const c of all ? all.list : [checkpoint]) {
      if (c.seq < checker.firstSeq! || c.seq > checker.lastSeq!) fileProblem(`${PACK.checkpoints} lists a checkpoint at seq ${c.seq}, outside the rows (seq ${checker.firstSeq}..${checker.lastSeq})`);
      const row = c.seq - checker.firstSeq! + 1;
      if (checker.chainHashSeen(c.seq) !== c.chainHash) {
        throw new VerifyFailure({ ok: false, row, seq: c.seq, reason: `row ${row} (seq ${c.seq}): chain_hash is not the one the checkpoint signed at ${c.signedAt} records` });
      }
      const lastAt = checker.latestAtUpTo(c.seq);
      if (lastAt !== null && Date.parse(lastAt) > Date.parse(c.signedAt)) {
        fileProblem(`an event up to seq ${c.seq} is dated ${lastAt}, after the checkpoint that covers it was signed (${c.signedAt})`);
      }
    }
    if (!all && !checkpointSignatureValid(checkpoint, key!)) {
      fileProblem(`the checkpoint signature (seq ${checkpoint.seq}) does not verify with ${whose()}`);
    }
    const timestamp = await checkpointTimestamp(zf, entries, manifest, checkpoint, opts.tsaCertificatesPem);
    const outcome: CheckpointOutcome = { status: 'verified', seq: checkpoint.seq, keyId: keyId(key!), keySource, timestamp };
    if (all) outcome.all = { count: all.list.length, timestamped: all.timestamped, timestampsChecked: !!opts.tsaCertificatesPem?.length };
    return success('zip', checker, outcome, manifestState, strict, opts.since, v1Unsigned);
  } catch (err) {
    if (err instanceof VerifyFailure) return err.failure;
    throw err;
  } finally {
    zf.close();
  }
}

/**
 * checkpoints.jsonl, streamed: each line's form, seq and signedAt strictly increasing, the tenant's key id and
 * signature, and with trusted TSA certificates each token (no later checkpoint unstamped once one was: a
 * witness outage delays checkpoints, it never lets one be signed around the TSA). Keeps seq, chain hash and
 * signedAt of each for the rows to be checked against.
 */
async function readCheckpoints(
  zf: yauzl.ZipFile,
  entry: yauzl.Entry,
  manifest: Manifest,
  key: KeyObject | undefined,
  whose: () => string,
  trusted: string[] | undefined,
): Promise<{ list: PackCheckpoint[]; timestamped: number }> {
  const tap = new Sha256Tap();
  const stream = await zf.openReadStreamPromise(entry);
  stream.on('error', (err) => tap.destroy(err));
  const list: PackCheckpoint[] = [];
  let timestamped = 0;
  let buffered = '';
  let lineNo = 0;
  const handle = (line: string) => {
    lineNo++;
    const where = `${PACK.checkpoints} line ${lineNo}`;
    if (line.length > MAX_CHECKPOINT_LINE) fileProblem(`${where} is too long`);
    let c: PackCheckpoint;
    try {
      c = JSON.parse(line) as PackCheckpoint;
    } catch {
      return fileProblem(`${where} is not valid JSON`);
    }
    if (
      !c || typeof c !== 'object' || !Number.isSafeInteger(c.seq) || c.seq < 1 || !isHashHex(c.chainHash) || typeof c.signedAt !== 'string' ||
      Number.isNaN(Date.parse(c.signedAt)) || typeof c.signature !== 'string' || typeof c.keyId !== 'string' ||
      (c.timestampToken !== null && typeof c.timestampToken !== 'string')
    ) {
      fileProblem(`${where} is not a checkpoint`);
    }
    const prev = list[list.length - 1];
    if (prev && c.seq <= prev.seq) fileProblem(`${where}: seq ${c.seq} does not follow seq ${prev.seq}`);
    if (prev && Date.parse(c.signedAt) <= Date.parse(prev.signedAt)) {
      fileProblem(`${where}: the checkpoint at seq ${c.seq} was signed at ${c.signedAt}, not after the one at seq ${prev.seq} (${prev.signedAt}): a checkpoint was backdated`);
    }
    if (!key) fileProblem(`the pack has checkpoints but no ${PACK.publicKey}; pass --public-key`);
    const full: Checkpoint = { tenant: manifest.tenant, seq: c.seq, chainHash: c.chainHash, signedAt: c.signedAt, signature: c.signature, keyId: c.keyId };
    if (!checkpointSignatureValid(full, key!)) fileProblem(`the checkpoint signature (seq ${c.seq}) does not verify with ${whose()}`);
    if (c.timestampToken) {
      timestamped++;
      if (trusted?.length) checkStamp(`the checkpoint at seq ${c.seq}`, c.timestampToken, full, trusted);
    } else if (trusted?.length && timestamped > 0) {
      fileProblem(`the checkpoint at seq ${c.seq} carries no TSA token though an earlier one does: it was signed around the timestamp authority`);
    }
    list.push({ ...c, signature: '', timestampToken: null });
  };
  const decoder = new StringDecoder('utf8');
  for await (const chunk of stream.pipe(tap)) {
    buffered += decoder.write(chunk as Buffer);
    if (buffered.length > MAX_CHECKPOINT_LINE * 2 && !buffered.includes('\n')) fileProblem(`${PACK.checkpoints} line ${lineNo + 1} is too long`);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  buffered += decoder.end();
  if (buffered !== '') fileProblem(`${PACK.checkpoints} does not end with a line break`);
  if (tap.hex !== manifest.files[PACK.checkpoints].sha256) fileProblem(`${PACK.checkpoints} does not match its SHA-256 in manifest.json`);
  if (manifest.checkpoints !== undefined && manifest.checkpoints !== list.length) {
    fileProblem(`manifest.json says ${manifest.checkpoints} checkpoints; ${PACK.checkpoints} has ${list.length}`);
  }
  return { list, timestamped };
}

/** A checkpoint's TSA token (verifyCheckpointStamp); a failure names the checkpoint. */
function checkStamp(what: string, tokenBase64: string, c: Checkpoint, trusted: string[]): Date {
  try {
    return verifyCheckpointStamp(tokenBase64, checkpointMessage(c), c.signedAt, trusted).genTime;
  } catch (err) {
    return fileProblem(`${what}: its TSA token: ${(err as Error).message}`);
  }
}

/**
 * The TSA's token for the pack's checkpoint (checkpoint.tst, listed and so signed in the manifest): with a
 * trusted TSA certificate it must stamp SHA-256(checkpoint.msg) no earlier than the checkpoint's signedAt.
 */
async function checkpointTimestamp(
  zf: yauzl.ZipFile,
  entries: Map<string, yauzl.Entry>,
  manifest: Manifest,
  checkpoint: Checkpoint,
  trusted: string[] | undefined,
): Promise<NonNullable<CheckpointOutcome['timestamp']>> {
  const entry = entries.get(PACK.checkpointTimestamp);
  if (!entry) return { status: 'absent' };
  if (!manifest.files[PACK.checkpointTimestamp]) fileProblem(`the pack holds a ${PACK.checkpointTimestamp} that manifest.json does not list`);
  if (!trusted?.length) return { status: 'unchecked' };
  const token = (await readSmall(zf, entry)).toString('base64');
  const genTime = checkStamp('the checkpoint', token, checkpoint, trusted);
  return { status: 'verified', genTime: genTime.toISOString() };
}

/** A zip starts with a local file header ("PK\x03\x04", or an empty archive's end record "PK\x05\x06"). */
async function isZip(file: string): Promise<boolean> {
  const fd = await fs.promises.open(file, 'r');
  const magic = Buffer.alloc(4);
  try {
    await fd.read(magic, 0, 4, 0);
  } finally {
    await fd.close();
  }
  return magic.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])) || magic.equals(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
}

/** A zip is read as an evidence pack; anything else as CSV. */
export async function verifyEvidenceFile(file: string, opts: FileVerifyOptions = {}): Promise<FileVerifyResult> {
  if (await isZip(file)) return verifyEvidencePack(file, opts);
  return verifyEvidenceCsv(fs.createReadStream(file, { highWaterMark: 1 << 16 }), opts);
}

/**
 * The signed checkpoint of an earlier pack (its checkpoint.json) or a checkpoint.json on its own, for
 * `--since`: its signature must verify with `key` (the pinned key), else with the earlier pack's own key, whose
 * id is returned for the caller to hold against its pin.
 */
export async function readEarlierCheckpoint(file: string, key: KeyObject | undefined): Promise<{ checkpoint: Checkpoint; keyId: string } | { problem: string }> {
  let text: Buffer;
  let packKey: KeyObject | undefined;
  try {
    if (await isZip(file)) {
      const zf = await openZip(file);
      try {
        const entries = await zipEntries(zf);
        const cp = entries.get(PACK.checkpoint);
        if (!cp) return { problem: `${file} holds no ${PACK.checkpoint}: nothing in it is signed` };
        text = await readSmall(zf, cp);
        const pem = entries.get(PACK.publicKey);
        if (pem) packKey = createPublicKey(await readSmall(zf, pem));
      } finally {
        zf.close();
      }
    } else {
      const stat = await fs.promises.stat(file);
      if (stat.size > MAX_SMALL_ENTRY) return { problem: `${file} is too large for a checkpoint` };
      text = await fs.promises.readFile(file);
    }
  } catch (err) {
    if (err instanceof VerifyFailure) return { problem: err.failure.reason };
    return { problem: `${file} cannot be read: ${(err as Error).message}` };
  }
  let c: Checkpoint;
  try {
    c = JSON.parse(text.toString('utf8')) as Checkpoint;
  } catch {
    return { problem: `${file}: its checkpoint is not valid JSON` };
  }
  if (!c || typeof c.tenant !== 'string' || !Number.isSafeInteger(c.seq) || c.seq < 1 || !isHashHex(c.chainHash) || typeof c.signedAt !== 'string' || typeof c.signature !== 'string') {
    return { problem: `${file}: its checkpoint is malformed` };
  }
  const verifyWith = key ?? packKey;
  if (!verifyWith) return { problem: `${file}: no key to check its checkpoint with (pass --public-key)` };
  if (!checkpointSignatureValid(c, verifyWith)) return { problem: `${file}: its checkpoint (seq ${c.seq}) does not verify with the ${key ? 'public key given' : "pack's own key"}` };
  return { checkpoint: c, keyId: keyId(verifyWith) };
}
