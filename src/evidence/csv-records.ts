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
export class CsvRecordReader {
  private buf = '';
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
          // A quoted field: up to a quote not followed by another.
          let value = '';
          let from = i + 1;
          for (;;) {
            const q = s.indexOf('"', from);
            if (q < 0) {
              if (!final) break record;
              this.fail('a quoted field is not closed');
            }
            if (q + 1 >= n && !final) break record;
            if (s.charCodeAt(q + 1) === 0x22) {
              value += s.slice(from, q + 1);
              from = q + 2;
              continue;
            }
            value += s.slice(from, q);
            i = q + 1;
            break;
          }
          cells.push(value);
        } else {
          // An unquoted field: up to a comma or CR; it may hold no quote and no line break.
          let j = i;
          for (; j < n; j++) {
            const c = s.charCodeAt(j);
            if (c === 0x2c || c === 0x0d) break;
            if (c === 0x22) this.fail('a quote inside an unquoted field');
            if (c === 0x0a) this.fail('a line feed without a carriage return');
          }
          if (j >= n && !final) break record;
          cells.push(s.slice(i, j));
          i = j;
        }
        // After a field: a comma, CRLF, or the end of the text.
        if (i >= n) {
          if (!final) break record;
          out.push(cells);
          this.records++;
          pos = i;
          break;
        }
        const c = s.charCodeAt(i);
        if (c === 0x2c) {
          i++;
          continue;
        }
        if (c === 0x0d) {
          if (i + 1 >= n) {
            if (!final) break record;
            this.fail('a carriage return without a line feed');
          }
          if (s.charCodeAt(i + 1) !== 0x0a) this.fail('a carriage return without a line feed');
          out.push(cells);
          this.records++;
          pos = i + 2;
          break;
        }
        this.fail('a character after a closing quote');
      }
    }
    this.buf = pos === 0 ? s : s.slice(pos);
    if (this.buf.length > MAX_RECORD_CHARS) this.fail(`longer than ${MAX_RECORD_CHARS} characters`);
    if (final && this.buf.length) this.fail('the file ends inside a record');
    return out;
  }
}
