/**
 * RFC 4180 records as the evidence CSV writes them, without a general-purpose CSV library on the hot path
 * (issue 15: csv-parse was ~60 % of verification, csv-stringify one chunk per row on export).
 *
 * The writer produces exactly what csv-stringify produces with CSV_STRINGIFY_OPTIONS (a property test holds
 * them equal), so the file format does not change. The reader accepts only the strict subset that writer
 * produces — CRLF record ends, quotes only around a whole field, nothing after a closing quote but a comma or
 * CRLF — so that any file it accepts is read the same way by every RFC 4180 reader (csv-parse, a spreadsheet):
 * the cells the verifier checks are the cells an auditor sees. Anything else is a parse error.
 */

const NEEDS_QUOTES = /[",\r\n]/;
/** No evidence record comes near this; a longer one (an unclosed quote) fails instead of being re-scanned forever. */
export const MAX_RECORD_CHARS = 8 << 20;

/** One CSV field: quoted (quotes doubled) when it holds a comma, a quote, CR or LF. */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record with its CRLF. */
export function csvRecord(cells: readonly string[]): string {
  let out = csvField(cells[0] ?? '');
  for (let i = 1; i < cells.length; i++) out += `,${csvField(cells[i])}`;
  return `${out}\r\n`;
}

export class CsvSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvSyntaxError';
  }
}

/**
 * Splits a stream of text into records, strictly (see above). Feed it decoded text in any chunking; it hands
 * back the complete records each chunk finished. A leading byte-order mark is skipped, as csv-parse's `bom` does.
 */
/** What the scanning helpers answer besides an index: the text ends before the answer is known … */
const MORE = -1;
/** … or a comma: the record goes on with another field. */
const NEXT_FIELD = -2;

export class CsvRecordReader {
  private buf = '';
  /** The value of the quoted field `quoted` read last. */
  private field = '';
  private started = false;
  /** Records completed so far (for error messages). */
  records = 0;

  /** `from`: a reader taking over in the middle of a file, after that many records (no byte-order mark there). */
  constructor(from?: { records: number }) {
    if (from) {
      this.records = from.records;
      this.started = true;
    }
  }

  /** The records completed by `chunk`. */
  push(chunk: string): string[][] {
    this.buf = this.buf.length ? this.buf + chunk : chunk;
    if (!this.started && this.buf.length) {
      if (this.buf.charCodeAt(0) === 0xfeff) this.buf = this.buf.slice(1);
      this.started = true;
    }
    return this.drain(false);
  }

  /** The last record, when the text does not end with CRLF. */
  end(): string[][] {
    return this.drain(true);
  }

  private fail(reason: string): never {
    throw new CsvSyntaxError(`record ${this.records + 1}: ${reason}`);
  }

  private drain(final: boolean): string[][] {
    const s = this.buf;
    const out: string[][] = [];
    let pos = 0;
    const n = s.length;
    record: while (pos < n) {
      const start = pos;
      const cells: string[] = [];
      let i = pos;
      for (;;) {
        if (i >= n) {
          if (!final) break record;
          if (cells.length === 0 && i === start) break record;
          cells.push('');
          out.push(cells);
          this.records++;
          pos = i;
          break;
        }
        if (s.charCodeAt(i) === 0x22) {
          const next = this.quoted(s, i, final);
          if (next === MORE) break record;
          cells.push(this.field);
          i = next;
        } else {
          const j = this.unquotedEnd(s, i);
          if (j >= n && !final) break record;
          cells.push(s.slice(i, j));
          i = j;
        }
        const next = this.afterField(s, i, final);
        if (next === MORE) break record;
        if (next === NEXT_FIELD) {
          i++;
          continue;
        }
        out.push(cells);
        this.records++;
        pos = next;
        break;
      }
    }
    this.buf = pos === 0 ? s : s.slice(pos);
    if (this.buf.length > MAX_RECORD_CHARS) this.fail(`longer than ${MAX_RECORD_CHARS} characters`);
    if (final && this.buf.length) this.fail('the file ends inside a record');
    return out;
  }

  /**
   * The quoted field whose opening quote is at `i`, up to a quote not followed by another: its value in
   * `this.field`, and the index after its closing quote; MORE when the text ends before that is known.
   */
  private quoted(s: string, i: number, final: boolean): number {
    const n = s.length;
    let value = '';
    let from = i + 1;
    for (;;) {
      const q = s.indexOf('"', from);
      if (q < 0) {
        if (!final) return MORE;
        this.fail('a quoted field is not closed');
      }
      if (q + 1 >= n && !final) return MORE;
      if (s.charCodeAt(q + 1) === 0x22) {
        value += s.slice(from, q + 1);
        from = q + 2;
        continue;
      }
      this.field = value + s.slice(from, q);
      return q + 1;
    }
  }

  /** Where the unquoted field at `i` ends: a comma, a CR or the end of the text; it may hold no quote and no line break. */
  private unquotedEnd(s: string, i: number): number {
    let j = i;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c === 0x2c || c === 0x0d) break;
      if (c === 0x22) this.fail('a quote inside an unquoted field');
      if (c === 0x0a) this.fail('a line feed without a carriage return');
    }
    return j;
  }

  /**
   * After a field ending at `i`: NEXT_FIELD (a comma), where the next record starts (after CRLF, or at the end of
   * the final text), or MORE when the text ends before that is known. Anything else is a syntax error.
   */
  private afterField(s: string, i: number, final: boolean): number {
    const n = s.length;
    if (i >= n) return final ? i : MORE;
    const c = s.charCodeAt(i);
    if (c === 0x2c) return NEXT_FIELD;
    if (c === 0x0d) {
      if (i + 1 >= n) {
        if (!final) return MORE;
        this.fail('a carriage return without a line feed');
      }
      if (s.charCodeAt(i + 1) !== 0x0a) this.fail('a carriage return without a line feed');
      return i + 2;
    }
    this.fail('a character after a closing quote');
  }
}
