/**
 * A CSV's rows through the checker (the strict RFC 4180 reader: csv-records.ts): on the main thread, or cut into
 * batches of whole records for worker threads (csv-batch.ts) whose facts come back in order for the sequential
 * checks. A batch the workers refuse is read again, with all after it, on the main thread, which then names the
 * first problem exactly as it would have alone.
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CsvRecordReader, CsvSyntaxError, MAX_RECORD_CHARS } from './csv-records';
import { type CsvBatchResult, recordsEnd } from './csv-batch';
import { EvidenceChecker } from './evidence-checker';
import { RowPool } from './row-pool';
import { fileProblem } from './verify-result';

const BATCH_CHARS = 1 << 16;

/** Where the main thread takes over: the text not yet checked, and a reader that knows how many records came before. */
interface Rest {
  prefix: string;
  reader: CsvRecordReader;
  header: boolean;
}

type Texts = AsyncIterator<string>;

async function checkSerially(rest: Rest, src: Texts, checker: EvidenceChecker): Promise<void> {
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
  take(rest.reader.push(rest.prefix));
  for (let r = await src.next(); !r.done; r = await src.next()) take(rest.reader.push(r.value));
  take(rest.reader.end());
  if (header) fileProblem('the file is empty (no header row)');
}

/** The header, when the text holds its line (an evidence header has no quotes); null to leave the file to the main thread. */
function headerRecord(buffered: string): { record: string[]; end: number } | null | 'more' {
  const nl = buffered.indexOf('\r\n');
  if (nl < 0) return buffered.length > MAX_RECORD_CHARS ? null : 'more';
  if (buffered.lastIndexOf('"', nl) >= 0) return null;
  return { record: new CsvRecordReader().push(buffered.slice(0, nl + 2))[0], end: nl + 2 };
}

/** The rows in `pool`'s workers; where they stop, what is left for the main thread (null: every row checked). */
async function checkInWorkers(src: Texts, checker: EvidenceChecker, pool: RowPool): Promise<Rest | null> {
  let buffered = '';
  let header = true;
  const inFlight: Array<{ text: string; result: Promise<CsvBatchResult> }> = [];
  const fallback = (from: string): Rest => {
    const prefix = from + inFlight.splice(0).map((b) => b.text).join('') + buffered;
    return { prefix, reader: new CsvRecordReader(header ? undefined : { records: checker.rows + 1 }), header };
  };
  const settle = async (): Promise<Rest | null> => {
    const b = inFlight.shift()!;
    const r = await b.result;
    if (!r.ok) return fallback(b.text);
    for (const f of r.facts) checker.apply(f);
    return null;
  };
  const submit = (text: string) => {
    const result = pool.run({ kind: 'csv', text, cfg: checker.config });
    result.catch(() => undefined);
    inFlight.push({ text, result });
  };
  for (let r = await src.next(); !r.done; r = await src.next()) {
    buffered += r.value;
    if (header) {
      const h = headerRecord(buffered);
      if (h === 'more') continue;
      if (h === null) return fallback('');
      checker.header(h.record);
      header = false;
      buffered = buffered.slice(h.end);
    }
    if (buffered.length < BATCH_CHARS) continue;
    const end = recordsEnd(buffered);
    if (end <= 0) {
      if (buffered.length <= MAX_RECORD_CHARS) continue;
      while (inFlight.length) {
        const rest = await settle();
        if (rest) return rest;
      }
      return fallback('');
    }
    submit(buffered.slice(0, end));
    buffered = buffered.slice(end);
    if (inFlight.length >= pool.size * 2) {
      const rest = await settle();
      if (rest) return rest;
    }
  }
  if (header) return fallback('');
  if (buffered) submit(buffered);
  buffered = '';
  while (inFlight.length) {
    const rest = await settle();
    if (rest) return rest;
  }
  return null;
}

/** Feeds a CSV byte stream through the checker, in `pool`'s workers when given. */
export async function checkCsv(input: Readable, checker: EvidenceChecker, pool: RowPool | null = null): Promise<void> {
  const decoder = new StringDecoder('utf8');
  const texts = async function* () {
    for await (const chunk of input) yield decoder.write(chunk as Buffer);
    yield decoder.end();
  };
  const src = texts();
  try {
    const rest = pool ? await checkInWorkers(src, checker, pool) : { prefix: '', reader: new CsvRecordReader(), header: true };
    if (rest) await checkSerially(rest, src, checker);
  } catch (err) {
    if (err instanceof CsvSyntaxError) fileProblem(`the CSV cannot be parsed after row ${checker.rows}: ${err.message}`);
    throw err;
  } finally {
    input.destroy();
  }
}
