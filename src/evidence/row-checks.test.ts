import fc from 'fast-check';
import { canonicalText, chainHash, genesisHash, leafHash, subjectRef } from '../audit/audit-format';
import { COL, EVIDENCE_COLUMNS, evidenceRecord } from './evidence-csv';
import {
  canonicalProblem, chainProblem, derivedProblem, filterProblem, hashFormatProblem, hiddenRowProblem, type RowConfig, rowFacts,
  seqOf, shapeProblem, subjectProblem,
} from './row-checks';
import { leafHashHex } from './verify-hashes';

/** The row-local checks one after the other, as the checker names them: what rowFacts must accept, no more, no less. */
function reference(record: string[], cfg: RowConfig): boolean {
  const seq = seqOf(record);
  if (shapeProblem(record, cfg.width, seq) || hashFormatProblem(record) || chainProblem(record)) return false;
  if (record[COL.canonical] === '') return hiddenRowProblem(record, cfg) === null;
  const doc = canonicalProblem(record, seq!);
  if (typeof doc === 'string' || derivedProblem(record, doc, cfg.width)) return false;
  if (doc.action !== 'subject.erased' && cfg.filter && filterProblem(doc, cfg.filter)) return false;
  return subjectProblem(record) === null;
}

/** Row `seq` after `prev`: shown in full, or by hashes only. */
function row(seq: number, prev: Buffer, hidden: boolean): string[] {
  const salt = Buffer.alloc(16, 9);
  const canonical = canonicalText({
    v: 1, tenant: 't1', seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), action: 'decision.approved',
    actor: { type: 'user', ref: subjectRef(salt, 'acc-1') }, space: 'ENG', page: { id: '7', version: 1, title: 'T ü', bodyHash: null },
    workflow: 'w1', data: { comment: 'ok', decision: 'approve' },
  });
  const leaf = leafHash(canonical);
  const e = { seq, canonical: hidden ? null : canonical, leafHash: leaf.toString('hex'), chainHash: chainHash(prev, leaf).toString('hex'), accountId: 'acc-1', saltHex: salt.toString('hex') };
  return evidenceRecord(e, prev.toString('hex'));
}

const HASH_CELLS = [COL.leaf_hash, COL.prev_chain_hash, COL.chain_hash] as const;
const mutation = fc.constantFrom<(cell: string, other: string) => string>(
  (c) => c.toUpperCase(),
  (c) => `g${c.slice(1)}`,
  (c) => `${c.slice(0, 63)}z`,
  (c) => c.slice(0, 63),
  (c) => `${c}0`,
  () => '',
  (_c, other) => other,
);

describe("a row's own checks (rowFacts)", () => {
  it('accept a row exactly when every check the checker names would pass, whichever hash cell is changed and how', () => {
    const cfg: RowConfig = { width: EVIDENCE_COLUMNS.length, filter: { space: 'ENG', from: null, to: null }, noHidden: false };
    const prev = genesisHash('t1');
    const other = row(2, prev, false);
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom(...HASH_CELLS), mutation, fc.boolean(), (hidden, cell, mutate, withLeaf) => {
        const record = row(1, prev, hidden);
        record[cell] = mutate(record[cell], other[cell]);
        const leafHex = withLeaf && record[COL.canonical] ? leafHashHex(record[COL.canonical]) : undefined;
        expect(rowFacts(record, cfg, undefined, leafHex) !== null).toBe(reference(record, cfg));
      }),
      { numRuns: 400 },
    );
    // Unchanged rows pass both ways.
    for (const hidden of [false, true]) expect(rowFacts(row(1, prev, hidden), cfg)).not.toBeNull();
  });
});
