/**
 * A CSV's rows through the checker (the strict RFC 4180 reader: csv-records.ts): on the main thread, or cut into
 * batches of whole records for worker threads (csv-batch.ts) whose facts come back in order for the sequential
 * checks. A batch the workers refuse is read again, with all after it, on the main thread, which then names the
 * first problem exactly as it would have alone.
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CsvRecordReader, CsvSyntaxError, MAX_RECORD_CHARS } from './csv-records';
import { checkCsvBytes, type CsvBatchResult, recordsEnd } from './csv-batch';
import { EvidenceChecker } from './evidence-checker';
import { RowPool } from './row-pool';
import type { RowRun } from './row-runs';
import { fileProblem } from './verify-result';

const BATCH_BYTES = 1 << 16;
/** Where no record has ended yet, the main thread takes over: MAX_RECORD_CHARS UTF-16 units are at most this many bytes. */
const MAX_RECORD_BYTES = MAX_RECORD_CHARS * 3;

/** Where the main thread takes over: the bytes not yet checked, and a reader that knows how many records came before. */
interface Rest {
  prefix: Buffer;
  reader: CsvRecordReader;
  header: boolean;
}

type Chunks = AsyncIterator<Buffer>;

async function checkSerially(rest: Rest, src: Chunks, checker: EvidenceChecker): Promise<void> {
  let header = rest.header;
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
  const decoder = new StringDecoder('utf8');
  take(rest.reader.push(decoder.write(rest.prefix)));
  for (let r = await src.next(); !r.done; r = await src.next()) take(rest.reader.push(decoder.write(r.value)));
  take(rest.reader.push(decoder.end()));
  take(rest.reader.end());
  if (header) fileProblem('the file is empty (no header row)');
}

/** The header, when the bytes hold its line (an evidence header has no quotes); null to leave the file to the main thread. */
function headerRecord(pending: Buffer): { record: string[]; end: number } | null | 'more' {
  const nl = pending.indexOf(CRLF);
  if (nl < 0) return pending.length > MAX_RECORD_BYTES ? null : 'more';
  if (pending.subarray(0, nl).includes(0x22)) return null;
  return { record: new CsvRecordReader().push(pending.toString('utf8', 0, nl + 2))[0], end: nl + 2 };
}

const CRLF = Buffer.from('\r\n');

/**
 * The rows in `pool`'s workers; where they stop, what is left for the main thread (null: every row checked).
 * The main thread only cuts the file's bytes where records end; the workers decode and read them.
 */
async function checkInWorkers(src: Chunks, checker: EvidenceChecker, pool: RowPool): Promise<Rest | null> {
  let pending: Buffer = Buffer.alloc(0);
  let header = true;
  const inFlight: Array<{ bytes: Uint8Array; result: Promise<CsvBatchResult & { run?: RowRun }> }> = [];
  const fallback = (from: Uint8Array[]): Rest => {
    const prefix = Buffer.concat([...from, ...inFlight.splice(0).map((b) => b.bytes), pending]);
    return { prefix, reader: new CsvRecordReader(header ? undefined : { records: checker.rows + 1 }), header };
  };
  const settle = async (): Promise<Rest | null> => {
    const b = inFlight.shift()!;
    const r = await b.result;
    if (!r.ok) return fallback([b.bytes]);
    checker.applyChecked(r, () => checkCsvBytes(b.bytes, checker.config).facts);
    return null;
  };
  const submit = (bytes: Uint8Array) => {
    const result = pool.run({ kind: 'csv', bytes, cfg: checker.config });
    result.catch(() => undefined);
    inFlight.push({ bytes, result });
  };
  for (let r = await src.next(); !r.done; r = await src.next()) {
    pending = pending.length ? Buffer.concat([pending, r.value]) : r.value;
    if (header) {
      const h = headerRecord(pending);
      if (h === 'more') continue;
      if (h === null) return fallback([]);
      checker.header(h.record);
      header = false;
      pending = pending.subarray(h.end);
    }
    if (pending.length < BATCH_BYTES) continue;
    const end = recordsEnd(pending);
    if (end <= 0) {
      if (pending.length <= MAX_RECORD_BYTES) continue;
      while (inFlight.length) {
        const rest = await settle();
        if (rest) return rest;
      }
      return fallback([]);
    }
    submit(pending.subarray(0, end));
    pending = pending.subarray(end);
    if (inFlight.length >= pool.size * 2) {
      const rest = await settle();
      if (rest) return rest;
    }
  }
  if (header) return fallback([]);
  if (pending.length) submit(pending);
  pending = Buffer.alloc(0);
  while (inFlight.length) {
    const rest = await settle();
    if (rest) return rest;
  }
  return null;
}

/** Feeds a CSV byte stream through the checker, in `pool`'s workers when given. */
export async function checkCsv(input: Readable, checker: EvidenceChecker, pool: RowPool | null = null): Promise<void> {
  const src = input[Symbol.asyncIterator]() as Chunks;
  try {
    const rest = pool ? await checkInWorkers(src, checker, pool) : { prefix: Buffer.alloc(0), reader: new CsvRecordReader(), header: true };
    if (rest) await checkSerially(rest, src, checker);
  } catch (err) {
    if (err instanceof CsvSyntaxError) fileProblem(`the CSV cannot be parsed after row ${checker.rows}: ${err.message}`);
    throw err;
  } finally {
    input.destroy();
  }
}
