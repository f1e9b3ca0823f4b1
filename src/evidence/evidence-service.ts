import { createHash, createPublicKey, Hash, KeyObject } from 'node:crypto';
import { Readable, Transform, TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256Hex } from '../lib/hash';
import yazl from 'yazl';
import { genesisHash } from '../audit/audit-format';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import { ConfluenceClient, isSpaceAdmin } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import { ConflictError, NotAllowedError } from '../lib/errors';
import { Checkpoint, checkpointMessage, keyId, manifestMessage, publicKeyPem, signManifest } from './evidence-checkpoint';
import { COL, EVIDENCE_COLUMNS, EvidenceEvent, evidenceRecord, neutralise } from './evidence-csv';
import { csvRecord } from './csv-records';
import { ChainLineError, chainLine } from './chain-lines';
import type { EvidenceStore } from './evidence-store';
import { PACK, PACK_FORMAT, verifyGuide } from './evidence-pack';

export type EvidenceFormat = 'csv' | 'zip';

/** The SOC 2 report put in a pack as report.html, read from the export's snapshot (`store`). */
export type PackReportWriter = (
  store: EvidenceStore,
  req: { clientKey: string; spaceKey: string | null; from: Date | null; to: Date | null; contentToSeq: number; publicKey: KeyObject | null; generatedAt: Date },
) => Promise<string>;

export interface EvidenceFilter {
  /** Null: the whole site. */
  spaceKey: string | null;
  /** Events recorded at or after `from` and before `to` (either may be null). */
  from: Date | null;
  to: Date | null;
}

export interface ExportSummary {
  tenant: string;
  rows: number;
  /** Rows outside the filter, written with hashes only. */
  redactedRows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoint: Checkpoint | null;
  /**
   * Set when events after the last row exist in the range asked for but no checkpoint covers them (the chain
   * moved after the export signed its head, or it does not verify): the export ends at the checkpoint instead.
   */
  endedAtCheckpoint: { requestedToSeq: number } | null;
}

export interface ExportOptions {
  /** Aborting stops the query and the output (a client that went away). */
  signal?: AbortSignal;
  /** Called every `progressEvery` rows and at the end. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
}


interface Plan {
  fromSeq: number;
  toSeq: number;
  /** Rows after this seq (up to a later checkpoint) are outside the time filter. */
  contentToSeq: number;
  prevChainHash: string;
  checkpoint: Checkpoint | null;
  endedAtCheckpoint: ExportSummary['endedAtCheckpoint'];
}

/**
 * SHA-256 and byte count of what passes through, re-chunked to 64 KiB: checkpoints.jsonl comes one small
 * chunk per line, and deflate pays per chunk.
 */
class Digest extends Transform {
  private readonly hash: Hash | null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;
  hex = '';
  constructor(opts: { hash: boolean }) {
    super();
    this.hash = opts.hash ? createHash('sha256') : null;
  }
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= 1 << 16) this.release();
    cb();
  }
  _flush(cb: TransformCallback): void {
    this.release();
    this.hex = this.hash ? this.hash.digest('hex') : '';
    cb();
  }
  private release(): void {
    if (!this.pendingBytes) return;
    this.push(Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * Records to text, in chunks of about 64 KiB (one chunk per row would cost the next stream per row):
 * `first` (a header), then `line(record)` for each.
 */
function textOf(line: (record: string[]) => string, first: string): Transform {
  let pending = first;
  return new Transform({
    writableObjectMode: true,
    transform(record: string[], _enc, cb) {
      pending += line(record);
      if (pending.length >= 1 << 16) {
        const out = pending;
        pending = '';
        cb(null, out);
      } else cb();
    },
    flush(cb) {
      cb(null, pending || undefined);
    },
  });
}

/** Erasures are shown whatever the filter: they hold a ref and a fixed reason, and explain every blank subject. */
const ERASURE = 'subject.erased';


/**
 * Evidence exports: who may export what, and the CSV / zip pack streamed from one read-only snapshot
 * of the tenant's chain (memory stays flat whatever the size).
 */
export class EvidenceService {
  constructor(
    private readonly deps: {
      store: EvidenceStore;
      /**
       * The checkpoint signing key (private): it signs each pack's manifest. Null for the operator's CLI, which
       * holds only the public key: its packs' manifests are unsigned, so they may hide no row (see records).
       */
      signingKey: KeyObject | null;
      /** The public key put in packs as public-key.pem (derived from the signing key when there is one). */
      publicKey?: KeyObject | null;
      /**
       * Signs the tenant's current head as a checkpoint (recorded like the scheduled ones, after re-hashing
       * every row since the previous one), so that an export ends at a signature.
       */
      signHead: (clientKey: string) => Promise<unknown>;
      clock: Clock;
      /** Absent for the operator's CLI, which needs no Confluence permission. */
      confluence?: ConfluenceClient;
      policies?: SpacePolicyProvider;
      /** Writes the pack's report.html from the same snapshot (src/report); absent: the pack has none. */
      report?: PackReportWriter;
    },
  ) {}

  /**
   * Site admins export the site and any space; space admins export their space unless the space's
   * policy keeps exports to site admins.
   */
  async authorise(user: { clientKey: string; accountId: string }, spaceKey: string | null): Promise<void> {
    const { confluence, policies } = this.deps;
    if (!confluence || !policies) throw new NotAllowedError('exports need a Confluence permission check');
    if (!user.accountId) throw new NotAllowedError('exports need a signed-in Atlassian account');
    if (spaceKey === null) {
      if (await confluence.isSiteAdmin(user.clientKey, user.accountId)) return;
      throw new NotAllowedError('Only Confluence site administrators can export the evidence of the whole site.');
    }
    const policy = await policies.policyFor(user.clientKey, spaceKey);
    if (policy.exportRole === 'space-admins' && (await isSpaceAdmin(confluence, user.clientKey, spaceKey, user.accountId))) return;
    if (await confluence.isSiteAdmin(user.clientKey, user.accountId)) return;
    throw new NotAllowedError(
      policy.exportRole === 'site-admins'
        ? `Only site administrators can export the evidence of space ${spaceKey} (space policy).`
        : `Only administrators of space ${spaceKey} can export its evidence.`,
    );
  }

  fileName(filter: EvidenceFilter, format: EvidenceFormat): string {
    const day = this.deps.clock.now().toISOString().slice(0, 10);
    const scope = filter.spaceKey ? filter.spaceKey.replace(/[^A-Za-z0-9_-]/g, '_') : 'site';
    return `attest-evidence-${scope}-${day}.${format}`;
  }

  /** Streams the export to `out` (ended when done) and returns what it wrote. */
  async write(clientKey: string, filter: EvidenceFilter, format: EvidenceFormat, out: Writable, opts: ExportOptions = {}): Promise<ExportSummary> {
    // Only a signed manifest can vouch that the rows a pack shows by hash only are outside its filter.
    const unsignedPack = format === 'zip' && this.deps.signingKey === null;
    if (unsignedPack && filter.spaceKey !== null) {
      throw new ConflictError(
        'A pack of one space hides the other spaces\' events, and only a manifest signed with the checkpoint key can vouch for what it hides. ' +
          'Export it from the space\'s Evidence tab, or export the whole site.',
      );
    }
    await this.deps.signHead(clientKey);
    const snapshot = await this.deps.store.beginSnapshot();
    try {
      const store = this.deps.store.on(snapshot);
      const planned = await this.plan(store, clientKey, filter);
      // Unsigned: rows after --to up to the checkpoint are shown in full rather than hidden.
      const plan = planned && unsignedPack ? { ...planned, contentToSeq: planned.toSeq } : planned;
      const summary: ExportSummary = {
        tenant: clientKey,
        rows: 0,
        redactedRows: 0,
        firstSeq: null,
        lastSeq: null,
        checkpoint: plan?.checkpoint ?? null,
        endedAtCheckpoint: plan?.endedAtCheckpoint ?? null,
      };
      const records = plan ? this.records(store, clientKey, filter, plan, summary, opts) : Readable.from([]);
      if (format === 'csv') {
        await pipeline(records, textOf(csvRecord, csvRecord(EVIDENCE_COLUMNS)), out, { signal: opts.signal });
      } else {
        await this.writePack(store, clientKey, filter, plan, summary, records, out, opts.signal);
      }
      await snapshot.commit();
      return summary;
    } finally {
      if (!snapshot.isCompleted()) await snapshot.rollback().catch(() => undefined);
    }
  }

  /**
   * The contiguous seq range of the filter, ending at a signed checkpoint: extended to the first checkpoint
   * at or after its last row, or, when none covers that row, cut at the latest checkpoint inside the range.
   * Without any checkpoint in the range the rows are exported unsigned (the verifier says so). Null: no rows.
   */
  private async plan(store: EvidenceStore, clientKey: string, filter: EvidenceFilter): Promise<Plan | null> {
    const head = await store.lastSeq(clientKey);
    if (head === 0) return null;
    const fromSeq = filter.from ? await store.firstSeqFrom(clientKey, filter.from) : 1;
    const lastInFilter = filter.to ? await store.lastSeqBefore(clientKey, filter.to) : head;
    await this.checkBoundaries(store, clientKey, filter, fromSeq, lastInFilter, head);
    if (fromSeq === null || lastInFilter === null || lastInFilter < fromSeq) return null;
    const checkpoint = await store.checkpointFor(clientKey, lastInFilter, fromSeq);
    // A checkpoint signed past the last event is the proof that events were deleted: never export around it.
    if (checkpoint && checkpoint.seq > head) {
      throw new ConflictError(
        `The audit trail ends at event ${head}, but a checkpoint was signed at event ${checkpoint.seq}: events have been deleted. ` +
          'No evidence can be exported until this is investigated (attest verify --db names what is missing).',
      );
    }
    const prev = fromSeq === 1 ? genesisHash(clientKey).toString('hex') : await store.chainHashAt(clientKey, fromSeq - 1);
    if (prev === null) throw new Error(`audit chain of ${clientKey} has no seq ${fromSeq - 1}`);
    const cut = checkpoint !== null && checkpoint.seq < lastInFilter;
    const contentToSeq = cut ? checkpoint!.seq : lastInFilter;
    return {
      fromSeq,
      toSeq: Math.max(contentToSeq, checkpoint?.seq ?? 0),
      contentToSeq,
      prevChainHash: prev,
      checkpoint,
      endedAtCheckpoint: cut ? { requestedToSeq: lastInFilter } : null,
    };
  }

  /**
   * The time range was found through the `recorded_at` column; the rows just outside it and at its ends must
   * agree with their canonical `at` (which only moves forward along the chain), or a changed column would hide
   * events from the export without any row failing to verify.
   */
  private async checkBoundaries(
    store: EvidenceStore,
    clientKey: string,
    filter: EvidenceFilter,
    fromSeq: number | null,
    lastSeq: number | null,
    head: number,
  ): Promise<void> {
    const disagree = (seq: number) =>
      new ConflictError(
        `The audit table's recorded_at column disagrees with the time in event ${seq}'s signed-over text, so the export's range cannot be trusted. ` +
          'No evidence can be exported until this is investigated (attest verify --db names the row).',
      );
    const at = async (seq: number) => {
      const text = await store.canonicalAt(clientKey, seq);
      const t = text === null ? NaN : Date.parse(text);
      if (Number.isNaN(t)) throw disagree(seq);
      return t;
    };
    if (filter.from) {
      const from = filter.from.getTime();
      if (fromSeq === null) {
        if ((await at(head)) >= from) throw disagree(head);
      } else {
        if ((await at(fromSeq)) < from) throw disagree(fromSeq);
        if (fromSeq > 1 && (await at(fromSeq - 1)) >= from) throw disagree(fromSeq - 1);
      }
    }
    if (filter.to) {
      const to = filter.to.getTime();
      if (lastSeq === null) {
        if ((await at(1)) < to) throw disagree(1);
      } else {
        if ((await at(lastSeq)) >= to) throw disagree(lastSeq);
        if (lastSeq < head && (await at(lastSeq + 1)) < to) throw disagree(lastSeq + 1);
      }
    }
  }

  private records(
    store: EvidenceStore,
    clientKey: string,
    filter: EvidenceFilter,
    plan: Plan,
    summary: ExportSummary,
    opts: ExportOptions,
  ): Readable {
    const every = opts.progressEvery ?? 50_000;
    const space = filter.spaceKey === null ? null : neutralise(filter.spaceKey);
    async function* generate(): AsyncGenerator<string[]> {
      let prev = plan.prevChainHash;
      for await (const e of store.events(clientKey, plan)) {
        let record = evidenceRecord(e, prev);
        // The canonical text decides what is shown, never a lookup column: a row is in full when it is in the
        // time range and in the space, or when it is an erasure (only a ref; the verifier needs it to accept
        // the blank subjects it explains).
        const erasure = record[COL.action] === ERASURE;
        if (e.canonical !== null && !erasure && (e.seq > plan.contentToSeq || (space !== null && record[COL.space_key] !== space))) {
          record = evidenceRecord({ ...e, canonical: null }, prev);
        }
        if (record[COL.canonical] === '') summary.redactedRows++;
        if (summary.firstSeq === null) summary.firstSeq = e.seq;
        summary.lastSeq = e.seq;
        summary.rows++;
        if (opts.onProgress && summary.rows % every === 0) opts.onProgress(summary.rows);
        prev = e.chainHash;
        yield record;
      }
      opts.onProgress?.(summary.rows);
    }
    return Readable.from(generate(), { objectMode: true, highWaterMark: 256 });
  }

  private async writePack(
    store: EvidenceStore,
    clientKey: string,
    filter: EvidenceFilter,
    plan: Plan | null,
    summary: ExportSummary,
    records: Readable,
    out: Writable,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const zip = new yazl.ZipFile();
    const zipped = pipeline(zip.outputStream, out, { signal });
    const files: Record<string, { sha256: string; bytes: number }> = {};
    const add = (name: string, content: string | Buffer) => {
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
      files[name] = { sha256: sha256Hex(buf), bytes: buf.length };
      zip.addBuffer(buf, name, { mtime: this.deps.clock.now() });
    };
    try {
      const digest = new Digest({ hash: true });
      // Level 1: most of a row is hex hashes, which deflate hardly shrinks; higher levels only cost time.
      zip.addReadStream(digest, PACK.events, { mtime: this.deps.clock.now(), compressionLevel: 1 });
      await pipeline(records, textOf(csvRecord, csvRecord(EVIDENCE_COLUMNS)), digest, { signal });
      files[PACK.events] = { sha256: digest.hex, bytes: digest.bytes };
      if (plan) {
        // chain.txt: the same rows again, read a second time in the same snapshot (a zip holds its entries one
        // after the other, and buffering a whole file of tenant data on disk is worse than a second read).
        const again: ExportSummary = { ...summary, rows: 0, redactedRows: 0, firstSeq: null, lastSeq: null };
        const lines = new Digest({ hash: true });
        zip.addReadStream(lines, PACK.chain, { mtime: this.deps.clock.now(), compressionLevel: 1 });
        try {
          await pipeline(this.records(store, clientKey, filter, plan, again, {}), textOf(chainLine, ''), lines, { signal });
        } catch (err) {
          if (err instanceof ChainLineError) throw new ConflictError(`${err.message}. No evidence pack can be exported until this is investigated (attest verify --db names the row).`);
          throw err;
        }
        if (again.rows !== summary.rows || again.lastSeq !== summary.lastSeq) throw new Error('the second read of the snapshot differs from the first');
        files[PACK.chain] = { sha256: lines.hex, bytes: lines.bytes };
      }

      const cp = plan?.checkpoint ?? null;
      const publicKey = this.deps.publicKey ?? (this.deps.signingKey ? createPublicKey(this.deps.signingKey) : null);
      if (publicKey) add(PACK.publicKey, publicKeyPem(publicKey));
      if (cp) {
        const { timestampToken, ...signed } = cp;
        add(PACK.checkpoint, `${JSON.stringify(signed, null, 2)}\n`);
        add(PACK.checkpointMessage, checkpointMessage(cp));
        add(PACK.checkpointSignature, Buffer.from(cp.signature, 'base64'));
        if (timestampToken) add(PACK.checkpointTimestamp, Buffer.from(timestampToken, 'base64'));
      }
      let checkpointCount = 0;
      if (plan && summary.firstSeq !== null) {
        // Every checkpoint the rows reach, with its TSA token: the verifier checks each against the chain.
        const lines = new Digest({ hash: true });
        zip.addReadStream(lines, PACK.checkpoints, { mtime: this.deps.clock.now() });
        const first = summary.firstSeq;
        const last = summary.lastSeq!;
        async function* jsonl(): AsyncGenerator<string> {
          for await (const c of store.checkpointsIn(clientKey, first, last)) {
            checkpointCount++;
            yield `${JSON.stringify({ seq: c.seq, chainHash: c.chainHash, signedAt: c.signedAt, keyId: c.keyId, signature: c.signature, timestampToken: c.timestampToken ?? null })}\n`;
          }
        }
        await pipeline(Readable.from(jsonl()), lines, { signal });
        files[PACK.checkpoints] = { sha256: lines.hex, bytes: lines.bytes };
      }
      if (this.deps.report) {
        const { spaceKey, from, to } = filter;
        add(PACK.report, await this.deps.report(store, { clientKey, spaceKey, from, to, contentToSeq: plan?.contentToSeq ?? 0, publicKey, generatedAt: this.deps.clock.now() }));
      }
      add(
        PACK.guide,
        verifyGuide({
          tenant: clientKey,
          checkpoint: cp,
          firstSeq: summary.firstSeq,
          lastSeq: summary.lastSeq,
          endedAtCheckpoint: summary.endedAtCheckpoint,
          manifestSigned: this.deps.signingKey !== null,
        }),
      );
      add(PACK.sums, Object.entries(files).map(([name, f]) => `${f.sha256}  ${name}\n`).join(''));
      const manifest = {
        format: PACK_FORMAT,
        auditFormat: 1,
        tenant: clientKey,
        filters: {
          space: filter.spaceKey,
          from: filter.from ? filter.from.toISOString() : null,
          to: filter.to ? filter.to.toISOString() : null,
        },
        generatedAt: this.deps.clock.now().toISOString(),
        rows: summary.rows,
        redactedRows: summary.redactedRows,
        firstSeq: summary.firstSeq,
        lastSeq: summary.lastSeq,
        startPrevChainHash: plan?.prevChainHash ?? null,
        checkpoint: cp ? { seq: cp.seq, chainHash: cp.chainHash, signedAt: cp.signedAt, keyId: cp.keyId } : null,
        endedAtCheckpoint: summary.endedAtCheckpoint,
        checkpoints: checkpointCount,
        publicKeyId: publicKey ? keyId(publicKey) : null,
        manifestSigned: this.deps.signingKey !== null,
        files,
      };
      const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
      zip.addBuffer(manifestBytes, PACK.manifest, { mtime: this.deps.clock.now() });
      // The manifest lists every other file's digest; its signature makes the whole pack tamper-evident.
      if (this.deps.signingKey) {
        zip.addBuffer(Buffer.from(manifestMessage(clientKey, manifestBytes), 'utf8'), PACK.manifestMessage, { mtime: this.deps.clock.now() });
        zip.addBuffer(signManifest(this.deps.signingKey, clientKey, manifestBytes), PACK.manifestSignature, { mtime: this.deps.clock.now() });
      }
      zip.end();
      await zipped;
    } catch (err) {
      (zip.outputStream as unknown as Readable).destroy(err as Error);
      await zipped.catch(() => undefined);
      throw err;
    }
  }
}
