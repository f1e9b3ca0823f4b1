/**
 * A batch of chain.txt lines checked on their own (row-checks.ts), on the main thread or in a worker
 * (verify-worker.ts): each line's facts for the sequential checks, and the events.csv bytes the lines derive.
 */
import { isUtf8 } from 'node:buffer';
import { COL as COLUMNS } from './evidence-csv';
import { csvField } from './csv-records';
import { canonicalOfLine, recordOfFields } from './chain-lines';
import { canonicalScanBytes } from './canonical-scan';
import { type RowConfig, type RowFacts, rowFacts } from './row-checks';
import { leafHashHexOfBytes } from './verify-hashes';

/** Module-local copy: through tsx an imported binding is a getter call per use, a few % of the verifier's time. */
const COL = { ...COLUMNS };

export interface ChainBatchResult {
  /** Facts of the lines before the first that failed a check of its own (all of them when none did). */
  facts: RowFacts[];
  /** Index of that line in the batch, or -1. */
  failAt: number;
  /** Its failure: not seven tab-separated fields, or a row check (which the checker then names). */
  failKind: 'line' | 'row' | null;
  /** UTF-8 of the CSV records of the lines in `facts`. */
  csv: Uint8Array;
}

/** The cells the checks held to digits and hex (seq, salt, hashes) need no quoting. */
const PLAIN = new Set<number>([COL.seq, COL.actor_salt, COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash]);

/** Cells `from` to `to` (exclusive) of a checked record, each after its comma, quoted as csvRecord quotes them. */
function csvCells(record: string[], from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += `,${PLAIN.has(i) ? record[i] : csvField(record[i])}`;
  return out;
}

/** csvRecord of a record whose plain cells were checked, cut to the file's width. */
export function csvOfCheckedRecord(record: string[], width: number): string {
  return `${record[0]}${csvCells(record, 1, width)}\r\n`;
}

/** The text of whole lines' or records' UTF-8 (cut at a line end, so at no character's middle). */
export function textOfBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** The canonical text of a line as JSON.parse reads it, when it is an object (else the checker names the problem). */
export function parsedCanonical(line: string): Record<string, unknown> | undefined {
  const text = canonicalOfLine(line);
  return text ? parsedObject(text) : undefined;
}

/** A canonical text as JSON.parse reads it, when it is an object. */
function parsedObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Named by the checker, after the leaf hash, as for a CSV row.
  }
  return undefined;
}

/** Room to write a batch's CSV in, reused: 3 bytes per UTF-16 unit of its own cells, 2 per byte of a canonical text. */
let scratch = Buffer.alloc(0);

/** Grows the scratch buffer to hold `bytes`, keeping the first `kept` bytes written. */
function room(bytes: number, kept: number): void {
  if (scratch.length >= bytes) return;
  const grown = Buffer.allocUnsafeSlow(Math.max(bytes, scratch.length * 2));
  scratch.copy(grown, 0, 0, kept);
  scratch = grown;
}

/**
 * Writes `src[from, to)` (a canonical text's UTF-8, straight from chain.txt) at `at` as csvField writes it
 * (quoted, quotes doubled, when it holds a quote, comma, CR or LF): no string is built or encoded for the
 * largest cell of the row. Returns where it ends.
 */
function writeCanonicalCell(src: Uint8Array, from: number, to: number, at: number): number {
  let quote = false;
  for (let i = from; i < to; i++) {
    const b = src[i];
    if (b === 0x22 || b === 0x2c || b === 0x0d || b === 0x0a) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    scratch.set(src.subarray(from, to), at);
    return at + to - from;
  }
  scratch[at++] = 0x22;
  for (let i = from; i < to; i++) {
    const b = src[i];
    scratch[at++] = b;
    if (b === 0x22) scratch[at++] = 0x22;
  }
  scratch[at++] = 0x22;
  return at;
}

/**
 * The CSV of a checked record whose canonical text is `src[from, to)`: csvOfCheckedRecord's UTF-8, written at `at`.
 * `src` null: the batch is not valid UTF-8, so its bytes are not what the decoded text encodes back to; the
 * canonical cell is then written from the text, as for any other cell.
 */
function writeRecord(record: string[], width: number, src: Uint8Array | null, from: number, to: number, at: number): number {
  const head = record[0] + csvCells(record, 1, COL.canonical);
  const tail = csvCells(record, COL.canonical + 1, width);
  const canonical = src ? null : csvField(record[COL.canonical]);
  room(at + (head.length + tail.length + (canonical?.length ?? 0)) * 3 + (to - from) * 2 + 8, at);
  at += scratch.write(head, at, 'utf8');
  scratch[at++] = 0x2c;
  at = canonical === null ? writeCanonicalCell(src!, from, to, at) : at + scratch.write(canonical, at, 'utf8');
  at += scratch.write(tail, at, 'utf8');
  scratch[at++] = 0x0d;
  scratch[at++] = 0x0a;
  return at;
}

/** Where the canonical text of the line `bytes[from, end)` starts: after its sixth tab (-1: fewer tabs). */
function canonicalStart(bytes: Uint8Array, from: number, end: number): number {
  let at = from;
  for (let f = 0; f < 6; f++) {
    const tab = bytes.indexOf(0x09, at);
    if (tab < 0 || tab >= end) return -1;
    at = tab + 1;
  }
  return at;
}

/**
 * `bytes`: chain.txt's UTF-8, whole lines each ending in LF; `csvWidth`: the columns of the pack's events.csv
 * (18 in a v4 pack). Each line is read from the decoded text and its CSV written from its own cells and,
 * for the canonical text, straight from `bytes`.
 */
export function checkChainBatch(bytes: Uint8Array, cfg: RowConfig, csvWidth: number): ChainBatchResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const exact = isUtf8(buf);
  const facts: RowFacts[] = [];
  let at = 0;
  const result = (failAt: number, failKind: ChainBatchResult['failKind']): ChainBatchResult => ({ facts, failAt, failKind, csv: new Uint8Array(scratch.subarray(0, at)) });
  let byteFrom = 0;
  let byteEnd: number;
  while ((byteEnd = buf.indexOf(0x0a, byteFrom)) >= 0) {
    const canonicalAt = canonicalStart(buf, byteFrom, byteEnd);
    if (canonicalAt < 0) return result(facts.length, 'line');
    // The canonical text decoded on its own (after a tab, so at no character's middle): a string of its own is read
    // a third faster than a slice of the line, by the RFC 8785 scan and by JSON.parse.
    const canonical = buf.toString('utf8', canonicalAt, byteEnd);
    const doc = canonical ? parsedObject(canonical) : undefined;
    const record = recordOfFields(buf.toString('utf8', byteFrom, canonicalAt), canonical, doc ?? null);
    if (!record) return result(facts.length, 'line');
    // From the bytes, where they are what the text encodes to: no string is read again for the hash or the form.
    const fromBytes = exact && doc !== undefined;
    const f = rowFacts(record, cfg, doc, fromBytes ? leafHashHexOfBytes(buf, canonicalAt, byteEnd) : undefined, fromBytes ? canonicalScanBytes(buf, canonicalAt, byteEnd) : undefined);
    if (!f) return result(facts.length, 'row');
    facts.push(f);
    at = writeRecord(record, csvWidth, exact ? buf : null, canonicalAt, byteEnd, at);
    byteFrom = byteEnd + 1;
  }
  return result(-1, null);
}
