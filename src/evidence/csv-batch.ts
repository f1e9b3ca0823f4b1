/**
 * CSV rows in batches of whole records, checked on their own (row-checks.ts) on the main thread or in a worker
 * (verify-worker.ts). The main thread cuts the bytes where a record ends (recordsEnd); the worker decodes the
 * batch and the strict reader reads it; anything it refuses is read again on the main thread to name the problem.
 */
import { CsvRecordReader } from './csv-records';
import { type RowConfig, type RowFacts, rowFacts } from './row-checks';

export interface CsvBatchResult {
  /** Facts of every record, when each was read and passed its own checks. */
  facts: RowFacts[];
  /** False when a record could not be read or failed a check of its own. */
  ok: boolean;
}

const CRLF = Buffer.from('\r\n');

/**
 * The end of the last whole record in `s` (just after its CRLF), where `s` starts a record: -1 if none ends in it.
 * Quotes are skipped in pairs, as the strict reader reads them; a text it would refuse may be cut anywhere, and
 * the reader then names the problem. `s` is the file's UTF-8: a quote, CR or LF byte is never part of another
 * character there, so the cut falls where it would in the decoded text.
 */
export function recordsEnd(s: Buffer): number {
  let last = -1;
  let i = 0;
  for (;;) {
    const q = s.indexOf(0x22, i);
    const n = s.indexOf(CRLF, i);
    if (n < 0) return last;
    if (q < 0 || n < q) {
      last = n + 2;
      i = n + 2;
      continue;
    }
    // Inside a quoted field up to its closing quote ("" is an escaped quote).
    let j = s.indexOf(0x22, q + 1);
    while (j >= 0 && s[j + 1] === 0x22) j = s.indexOf(0x22, j + 2);
    if (j < 0) return last;
    i = j + 1;
  }
}

/** `text`: whole records (the last one may end the file without CRLF). */
export function checkCsvBatch(text: string, cfg: RowConfig): CsvBatchResult {
  const facts: RowFacts[] = [];
  let records: string[][];
  try {
    const reader = new CsvRecordReader({ records: 0 });
    records = reader.push(text);
    records.push(...reader.end());
  } catch {
    return { facts, ok: false };
  }
  for (const record of records) {
    const f = rowFacts(record, cfg);
    if (!f) return { facts, ok: false };
    facts.push(f);
  }
  return { facts, ok: true };
}
