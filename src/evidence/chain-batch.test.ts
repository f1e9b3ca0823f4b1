import fc from 'fast-check';
import { canonicalText, chainHash, genesisHash, leafHash, subjectRef } from '../audit/audit-format';
import { checkChainBatch, csvOfCheckedRecord, parsedCanonical } from './chain-batch';
import { chainLine, recordOfLine } from './chain-lines';
import { EvidenceChecker } from './evidence-checker';
import { EVIDENCE_COLUMNS, EVIDENCE_COLUMNS_V18, evidenceRecord } from './evidence-csv';

/** chain.txt lines of one tenant from genesis, one event per comment, as the exporter writes them. */
function chainLines(comments: string[], accounts: string[]): string[] {
  const salt = Buffer.alloc(16, 3);
  let prev = genesisHash('t1');
  return comments.map((comment, i) => {
    const seq = i + 1;
    const account = accounts[i % accounts.length];
    const canonical = canonicalText({
      v: 1, tenant: 't1', seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), action: 'decision.approved',
      actor: { type: 'user', ref: subjectRef(salt, account) }, space: 'ENG', page: { id: '7', version: 1, title: `Title, "${comment}"`, bodyHash: null },
      workflow: 'w1', data: { comment, decision: 'approve' },
    });
    const leaf = leafHash(canonical);
    const chain = chainHash(prev, leaf);
    const line = chainLine(evidenceRecord({ seq, canonical, leafHash: leaf.toString('hex'), chainHash: chain.toString('hex'), accountId: account, saltHex: salt.toString('hex') }, prev.toString('hex')));
    prev = chain;
    return line;
  });
}

/** What events.csv must hold for these lines: csvOfCheckedRecord of each, the reference the byte writer is held to. */
const expectedCsv = (lines: string[], width: number) =>
  Buffer.from(lines.map((l) => csvOfCheckedRecord(recordOfLine(l.slice(0, -1), parsedCanonical(l.slice(0, -1)) ?? null)!, width)).join(''), 'utf8');

const unit = fc.constantFrom('a', 'ü', '日', '😀', '"', ',', '\r', '\n', '\t', '\\', '=', ' ', '\u2028');
const cfg = new EvidenceChecker().config;

describe('a batch of chain.txt lines', () => {
  it('derives, byte for byte, the CSV that csvOfCheckedRecord writes, whatever the cells hold (18 and 19 columns)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit, maxLength: 12 }), { minLength: 1, maxLength: 6 }), fc.array(fc.string({ unit, minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }), (comments, accounts) => {
        const lines = chainLines(comments, accounts);
        for (const width of [EVIDENCE_COLUMNS.length, EVIDENCE_COLUMNS_V18.length]) {
          const r = checkChainBatch(Buffer.from(lines.join(''), 'utf8'), cfg, width);
          expect(r.failAt).toBe(-1);
          expect(Buffer.from(r.csv).equals(expectedCsv(lines, width))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stops at a line that is not valid UTF-8, having written the lines before it as their text says', () => {
    const lines = chainLines(['one "quoted", ü', 'two 😀', 'three ü'], ['acc-1']);
    const bytes = Buffer.from(lines.join(''), 'utf8');
    // The last line's ü (C3 BC) becomes an invalid byte: the text then holds U+FFFD, whose leaf hash differs.
    const at = bytes.lastIndexOf(Buffer.from('ü', 'utf8'));
    bytes[at] = 0xff;
    const r = checkChainBatch(bytes, cfg, EVIDENCE_COLUMNS.length);
    expect(r).toMatchObject({ failAt: 2, failKind: 'row' });
    expect(Buffer.from(r.csv).equals(expectedCsv(lines.slice(0, 2), EVIDENCE_COLUMNS.length))).toBe(true);
  });
});
