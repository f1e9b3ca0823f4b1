/** The export's rows as CSV records, and the streams that turn them into a file's text and digest. */
import { createHash, Hash } from 'node:crypto';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { COL, EvidenceEvent, evidenceRecord, neutralise, parseCanonical } from './evidence-csv';
import type { AuditReads } from '../audit/audit-read-model';
import type { EvidenceFilter, ExportOptions, ExportPlan, ExportSummary } from './evidence-types';

/** The size of the chunks the export's streams pass on (deflate and every stream after pay per chunk). */
const CHUNK_BYTES = 1 << 16;

/**
 * SHA-256 and byte count of what passes through, in chunks of at least half of CHUNK_BYTES: checkpoints.jsonl
 * comes one small chunk per line and is gathered; textOf's chunks pass as they are.
 */
export class Digest extends Transform {
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
    if (this.pendingBytes >= CHUNK_BYTES / 2) this.release();
    cb();
  }
  _flush(cb: TransformCallback): void {
    this.release();
    this.hex = this.hash ? this.hash.digest('hex') : '';
    cb();
  }
  private release(): void {
    if (!this.pendingBytes) return;
    this.push(this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * Records to UTF-8, in chunks of up to CHUNK_BYTES: `first` (a header), then `line(record)` for each, each line
 * encoded into the chunk as it comes. (Joining a chunk's lines into one string and encoding that took 3–10 times
 * as long: once any line holds a character past U+00FF, the joined string is two bytes a character throughout,
 * and V8 encodes those slowly; bench/README.md "Verify and export, 2026-12-03 12:00".) A line is never split between chunks.
 */
export function textOf(line: (record: string[]) => string, first: string): Transform {
  let buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, first.length * 3));
  let at = buf.write(first, 0, 'utf8');
  return new Transform({
    writableObjectMode: true,
    transform(record: string[], _enc, cb) {
      // Hands over the chunk first when the line might not fit (UTF-8: at most 3 bytes a UTF-16 unit).
      const text = line(record);
      const most = text.length * 3;
      if (at + most > buf.length) {
        if (at > 0) this.push(buf.subarray(0, at));
        buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, most));
        at = 0;
      }
      at += buf.write(text, at, 'utf8');
      cb();
    },
    flush(cb) {
      cb(null, at > 0 ? buf.subarray(0, at) : undefined);
    },
  });
}

/** Erasures are shown whatever the filter: they hold a ref and a fixed reason, and explain every blank subject. */
const ERASURE = 'subject.erased';

/**
 * The plan's rows as CSV records, counted into `summary`. Each row read is first handed to `observe` as the
 * database gave it, with its canonical text as parseCanonical read it (the pack's report is built from the same
 * read and the same object), then shown in full or by its hashes only.
 */
export function exportRecords(
  store: AuditReads,
  clientKey: string,
  filter: EvidenceFilter,
  plan: ExportPlan,
  summary: ExportSummary,
  opts: ExportOptions & { observe?: (e: EvidenceEvent, parsed: unknown) => void },
): Readable {
  const every = opts.progressEvery ?? 50_000;
  const space = filter.spaceKey === null ? null : neutralise(filter.spaceKey);
  async function* generate(): AsyncGenerator<string[]> {
    let prev = plan.prevChainHash;
    for await (const e of store.events(clientKey, plan)) {
      // Read once for the record and the report (undefined: no text, or not JSON).
      const parsed = e.canonical === null ? undefined : parseCanonical(e.canonical);
      opts.observe?.(e, parsed);
      let record = evidenceRecord(e, prev, parsed);
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
