import fc from 'fast-check';
import { COL, EVIDENCE_COLUMNS, evidenceRecord } from './evidence-csv';
import { ChainLineError, canonicalOfLine, chainLine, recordOfLine } from './chain-lines';

const text = fc.string({ unit: fc.constantFrom('a', 'ü', '\\', '\t', '\n', '\r', 't', 'n', ',', '"', '='), maxLength: 10 });
const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

describe('chain.txt lines', () => {
  it('give back the CSV record they were written from, whatever the account cell holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), hex(64), hex(64), text, fc.jsonValue({ depthSize: 'small' }), fc.boolean(), (seq, leaf, chain, accountId, data, redacted) => {
        const canonical = JSON.stringify({ action: 'decision.approved', actor: { ref: 'r', type: 'user' }, data, seq });
        const record = evidenceRecord({ seq, canonical: redacted ? null : canonical, leafHash: leaf, chainHash: chain, accountId, saltHex: '0'.repeat(32) }, leaf);
        const line = chainLine(record);
        expect(line.indexOf('\n')).toBe(line.length - 1);
        const body = line.slice(0, -1);
        expect(canonicalOfLine(body)).toBe(record[COL.canonical]);
        expect(recordOfLine(body, redacted ? null : JSON.parse(canonical))).toEqual(record);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuse a canonical text with a raw line feed (not RFC 8785), and lines that are not seven fields', () => {
    const record = new Array(EVIDENCE_COLUMNS.length).fill('');
    record[COL.seq] = '4';
    record[COL.canonical] = '{"a":"x\ny"}';
    expect(() => chainLine(record)).toThrow(ChainLineError);
    expect(recordOfLine('1\ta\tb\tc\td\te', null)).toBeNull();
    expect(recordOfLine('1\ta\tb\tc\tbad\\x\te\t{}', null)).toBeNull();
    expect(recordOfLine('1\ta\tb\tc\tends\\\te\t{}', null)).toBeNull(); // a backslash left dangling at the end of the account cell
    expect(recordOfLine('1\ta\tb\tc\tx\\ty\te\t{}', null)?.[COL.actor_account_id]).toBe('x\ty');
  });
});
