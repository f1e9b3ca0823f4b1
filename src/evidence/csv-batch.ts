/**
 * CSV rows in batches of whole records, checked on their own (row-checks.ts) on the main thread or in a worker
 * (verify-worker.ts). The main thread cuts the bytes where a record ends (recordsEnd); the worker decodes the
 * batch and the strict reader reads it; anything it refuses is read again on the main thread to name the problem.
 */
import { isAscii } from 'node:buffer';
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
  return checkPieces([text], cfg);
}

/**
 * checkCsvBatch of whole records' UTF-8 (what a worker is handed), decoded in pieces: a run of lines that are all
 * ASCII becomes a string of its own. V8 holds a string one byte per character only while every character fits, so
 * one record with a character beyond Latin-1 made the whole batch's text, and every cell sliced from it, two bytes
 * per character; the reader, JSON.parse and the hashes then read each row slower. The reader takes text in any
 * chunking, and a line feed is never part of another character, so the records read are the same.
 */
export function checkCsvBytes(bytes: Uint8Array, cfg: RowConfig): CsvBatchResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return checkPieces(isAscii(buf) ? [buf.toString('latin1')] : piecesOf(buf), cfg);
}

/** `buf`'s text in pieces cut at line feeds, each a run of ASCII lines or of the others. */
function piecesOf(buf: Buffer): string[] {
  const pieces: string[] = [];
  let from = 0;
  let ascii = true;
  for (let at = 0; at < buf.length; ) {
    const lf = buf.indexOf(0x0a, at);
    const end = lf < 0 ? buf.length : lf + 1;
    const lineAscii = isAscii(buf.subarray(at, end));
    if (lineAscii !== ascii && at > from) {
      pieces.push(buf.toString('utf8', from, at));
      from = at;
    }
    ascii = lineAscii;
    at = end;
  }
  if (from < buf.length) pieces.push(buf.toString('utf8', from, buf.length));
  return pieces;
}

function checkPieces(pieces: string[], cfg: RowConfig): CsvBatchResult {
  const facts: RowFacts[] = [];
  const records: string[][] = [];
  try {
    const reader = new CsvRecordReader({ records: 0 });
    for (const piece of pieces) for (const r of reader.push(piece)) records.push(r);
    for (const r of reader.end()) records.push(r);
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
