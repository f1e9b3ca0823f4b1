import fc from 'fast-check';
import { genesisHash } from '../audit/audit-format';
import { EvidenceChecker } from './evidence-checker';
import type { RowFacts, RowFilter } from './row-checks';
import { asRun, runOf } from './row-runs';
import { VerifyFailure } from './verify-result';

/** A row of a well-formed chain: seq, the chain hash before, its own; full rows of tenant t1 a second apart. */
function row(seq: number, over: Partial<RowFacts> = {}): RowFacts {
  return {
    seq, prev: `h${seq - 1}`, chain: `h${seq}`, hidden: false, tenant: 't1',
    at: `2026-01-01T00:${String(Math.floor(seq / 60) % 60).padStart(2, '0')}:${String(seq % 60).padStart(2, '0')}Z`,
    erasure: false, erasedRef: null, blankRef: null, ...over,
  };
}

/** How a row may differ from the well-formed chain: every fact the sequential checks read. */
const change = fc.oneof(
  { arbitrary: fc.constant({}), weight: 40 },
  { arbitrary: fc.constant({ hidden: true, tenant: '', at: null }), weight: 4 },
  { arbitrary: fc.constant({ blankRef: 'r1' }), weight: 4 },
  { arbitrary: fc.constant({ erasure: true, erasedRef: 'r1' }), weight: 2 },
  fc.constant({ hidden: true, tenant: '', at: null }),
  fc.constant({ erasure: true, erasedRef: 'r1' }),
  fc.constant({ erasure: true, erasedRef: null }),
  fc.constant({ blankRef: 'r1' }),
  fc.constant({ blankRef: 'r2' }),
  fc.constant({ at: null }),
  fc.constant({ at: '2025-12-31T00:00:00Z' }),
  fc.constant({ tenant: 't2' }),
  fc.constant({ prev: 'forged' }),
  fc.constant({ seq: -1 }),
);

/** What a checker ends with: its failure, or everything a verification reads of it. */
function outcome(c: EvidenceChecker, watched: number[], run: () => void): unknown {
  try {
    run();
    c.finish();
  } catch (err) {
    if (err instanceof VerifyFailure) return { failure: err.failure };
    throw err;
  }
  return {
    rows: c.rows, redacted: c.redactedRows, first: c.firstSeq, last: c.lastSeq, head: c.head, firstPrev: c.firstPrev,
    tenant: c.tenant, start: c.start(), erased: c.erasedSubjects,
    watched: watched.map((s) => [c.chainHashSeen(s), c.latestAtUpTo(s)]),
  };
}

const none = new Set<number>();

describe('a batch told as a run (row-runs.ts)', () => {
  it('leaves the checker exactly as applying its rows one by one does: the same failure, or the same state', () => {
    const filters: Array<RowFilter | null> = [null, { space: null, from: null, to: null }, { space: 'ENG', from: null, to: null }];
    fc.assert(
      fc.property(
        fc.array(change, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(...filters),
        fc.constantFrom<string | null>(null, 't1'),
        fc.array(fc.integer({ min: 1, max: 42 }), { maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        (changes, cuts, filter, tenant, watched, workersWatch, atGenesis) => {
          const facts = changes.map((c, i) => {
            const f = row(i + 1, c);
            if (f.seq === -1) f.seq = i + 3;
            return f;
          });
          // Anchored at tenant t1's genesis hash (checked once a full row names the tenant), or by a hash given as
          // --prev gives one.
          if (atGenesis && facts[0].prev === 'h0') facts[0].prev = genesisHash('t1').toString('hex');
          const make = () => {
            const c = new EvidenceChecker({ filter, tenant, ...(atGenesis ? {} : { prevChainHash: 'h0' }) });
            for (const s of watched) c.watchSeq(s);
            return c;
          };
          const one = make();
          const expected = outcome(one, watched, () => facts.forEach((f) => one.apply(f)));
          const batched = make();
          const got = outcome(batched, watched, () => {
            for (let at = 0, b = 0; at < facts.length; at += cuts[b++ % cuts.length]) {
              const batch = facts.slice(at, at + cuts[b % cuts.length]);
              // As a worker's answer crosses to the main thread: cloned. A worker not told the watched seqs (RowPool
              // always tells them) must still not make the checker miss a checkpoint's hash.
              batched.applyChecked(structuredClone(asRun({ facts: batch }, filter, new Set(workersWatch ? watched : []))), () => batch);
            }
          });
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('is made only of rows that agree among themselves, and only its first row goes as facts', () => {
    const facts = [1, 2, 3, 4].map((s) => row(s));
    const r = asRun({ facts }, null, new Set([3]));
    expect(r.facts).toEqual([facts[0]]);
    expect(r.run).toMatchObject({ n: 3, firstSeq: 2, firstPrev: 'h1', lastChain: 'h4', tenant: 't1', watched: [[3, 'h3', row(3).at]] });
    expect(runOf([row(1), row(2, { prev: 'forged' })], null, none)).toBeNull();
    expect(runOf([row(1), row(3)], null, none)).toBeNull();
    expect(runOf([row(1), row(2, { tenant: 't2' }), row(3)], null, none)).toBeNull();
    expect(runOf([row(1), row(2), row(3, { at: '2025-01-01T00:00:00Z' })], null, none)).toBeNull();
    // A full row after one hidden by time: the filter that hides only by time forbids it, one by space does not.
    const hiddenThenFull = [row(1, { hidden: true, tenant: '', at: null }), row(2)];
    expect(runOf(hiddenThenFull, { space: null, from: null, to: null }, none)).toBeNull();
    expect(runOf(hiddenThenFull, { space: 'ENG', from: null, to: null }, none)).not.toBeNull();
    expect(asRun({ facts: [row(1)] }, null, none)).toEqual({ facts: [row(1)] });
  });

  it('is applied whole only where it joins the rows before it; else the rows go one by one and the first problem is named', () => {
    const c = new EvidenceChecker({ prevChainHash: 'h0' });
    c.apply(row(1));
    const later = asRun({ facts: [row(3), row(4)] }, null, none);
    const recheck = jest.fn(() => [row(3), row(4)]);
    expect(() => c.applyChecked(later, recheck)).toThrow('row 2 (seq 3): expected seq 2, found seq 3: a row is missing');
    expect(recheck).not.toHaveBeenCalled();
    // A batch whose first row is hidden and whose run goes back in time from the rows before the batch.
    const c2 = new EvidenceChecker({ prevChainHash: 'h0' });
    c2.apply(row(1));
    c2.apply(row(2));
    const batch = [row(3, { hidden: true, tenant: '', at: null }), row(4, { at: '2025-01-01T00:00:00Z' }), row(5)];
    const back = asRun({ facts: batch }, null, none);
    expect(back.run).toBeDefined();
    const again = jest.fn(() => batch);
    expect(() => c2.applyChecked(back, again)).toThrow('row 4 (seq 4): at 2025-01-01T00:00:00Z is before an earlier event');
    expect(again).toHaveBeenCalled();
  });
});
