import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { CSV_STRINGIFY_OPTIONS, EVIDENCE_COLUMNS } from './evidence-csv';
import { CsvRecordReader, CsvSyntaxError, csvRecord } from './csv-records';

/** Text made of the characters that matter to CSV, plus ordinary and non-ASCII ones. */
const cell = fc.string({ unit: fc.constantFrom('a', 'ü', '日', ',', '"', '\r', '\n', ' ', "'", '=', '\t', '{'), maxLength: 12 });
const records = fc.array(fc.array(cell, { minLength: EVIDENCE_COLUMNS.length, maxLength: EVIDENCE_COLUMNS.length }), { maxLength: 6 });

/** Reads `text` in the given chunk sizes; null when the strict reader refuses it. */
function readStrict(text: string, cuts: number[]): string[][] | null {
  const reader = new CsvRecordReader();
  const out: string[][] = [];
  try {
    let at = 0;
    for (const size of cuts) {
      out.push(...reader.push(text.slice(at, at + size)));
      at += size;
    }
    out.push(...reader.push(text.slice(at)));
    out.push(...reader.end());
  } catch (err) {
    if (err instanceof CsvSyntaxError) return null;
    throw err;
  }
  return out;
}

const csvParse = (text: string): string[][] | null => {
  try {
    return parse(text, { bom: true, relax_column_count: true, skip_empty_lines: false });
  } catch {
    return null;
  }
};

describe('CSV records without a CSV library', () => {
  it('writes exactly what csv-stringify writes with the evidence options (header and records)', () => {
    fc.assert(
      fc.property(records, (rows) => {
        const ours = csvRecord(EVIDENCE_COLUMNS) + rows.map(csvRecord).join('');
        const theirs = stringify(rows, CSV_STRINGIFY_OPTIONS);
        expect(ours).toBe(theirs);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads what it writes in any chunking, as csv-parse reads it', () => {
    fc.assert(
      fc.property(records, fc.array(fc.nat(40), { maxLength: 8 }), (rows, cuts) => {
        const text = rows.map(csvRecord).join('');
        expect(readStrict(text, cuts)).toEqual(rows);
        expect(csvParse(text)).toEqual(rows);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts only text that csv-parse reads the same way (any text, any chunking)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', '\uFEFF', 'ü'), maxLength: 30 });
    fc.assert(
      fc.property(text, fc.array(fc.nat(10), { maxLength: 5 }), (t, cuts) => {
        const ours = readStrict(t, cuts);
        if (ours !== null) expect(csvParse(t)).toEqual(ours);
        // Chunking never changes the verdict.
        expect(readStrict(t, [])).toEqual(ours);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses what a lenient reader would guess at', () => {
    for (const bad of ['a"b,c\r\n', '"a"b,c\r\n', 'a,b\nc,d\r\n', 'a,b\rc\r\n', '"unclosed\r\n', 'a\r']) {
      expect(readStrict(bad, [])).toBeNull();
    }
    expect(readStrict('\uFEFFa,"b ""q"", c"\r\n,\r\n\r\nlast', [3])).toEqual([['a', 'b "q", c'], ['', ''], [''], ['last']]);
  });
});
