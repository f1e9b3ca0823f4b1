import os from 'node:os';
import { canonicalText, chainHash, genesisHash, leafHash, subjectRef } from '../audit/audit-format';
import { checkChainBatch } from './chain-batch';
import { chainLine } from './chain-lines';
import { EvidenceChecker } from './evidence-checker';
import { EVIDENCE_COLUMNS, evidenceRecord } from './evidence-csv';
import { RowPool, WORKERS_FROM_BYTES, workersFor } from './row-pool';
import { asRun } from './row-runs';

/** chain.txt of `n` events of one tenant, as the exporter writes it. */
function chainText(n: number): string {
  const salt = Buffer.alloc(16, 7);
  let prev = genesisHash('t1');
  let out = '';
  for (let seq = 1; seq <= n; seq++) {
    const canonical = canonicalText({
      v: 1, tenant: 't1', seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString().replace('Z', '000Z'),
      action: 'decision.approved', actor: { type: 'user', ref: subjectRef(salt, `acc-${seq % 3}`) }, space: 'ENG',
      page: { id: '1', version: 2, title: 'Policy, "quoted" =1', bodyHash: null }, workflow: 'w1', data: { comment: `line one\nline ${seq} ü`, decision: 'approve' },
    });
    const leaf = leafHash(canonical);
    const chain = chainHash(prev, leaf);
    out += chainLine(evidenceRecord({ seq, canonical, leafHash: leaf.toString('hex'), chainHash: chain.toString('hex'), accountId: `acc-${seq % 3}`, saltHex: salt.toString('hex') }, prev.toString('hex')));
    prev = chain;
  }
  return out;
}

describe('the verifier worker threads', () => {
  jest.setTimeout(60_000);
  const text = chainText(300);
  const cfg = new EvidenceChecker().config;
  const width = EVIDENCE_COLUMNS.length;

  it('check a batch of chain.txt lines exactly as the main thread does, and hand back the same CSV bytes', async () => {
    // From any directory, as `npx attest verify` runs: the workers must find tsx and their module all the same.
    const cwd = process.cwd();
    process.chdir(os.tmpdir());
    const pool = new RowPool(2);
    try {
      const lines = text.split('\n').slice(0, -1);
      const batches = [lines.slice(0, 100), lines.slice(100, 200), lines.slice(200)].map((b) => `${b.join('\n')}\n`);
      const results = await Promise.all(batches.map((b) => pool.run({ kind: 'chain', bytes: Buffer.from(b), cfg, csvWidth: width })));
      process.chdir(cwd);
      results.forEach((r, i) => {
        const local = checkChainBatch(Buffer.from(batches[i]), cfg, width);
        expect(r.failAt).toBe(-1);
        // The first line's facts, and the others' as one run (row-runs.ts).
        expect({ facts: r.facts, run: r.run }).toEqual(asRun({ facts: local.facts }, cfg.filter, new Set()));
        expect(r.run?.n).toBe(local.facts.length - 1);
        expect(Buffer.from(r.csv)).toEqual(Buffer.from(local.csv));
      });
      // Their facts pass the sequential checks in order: one chain from genesis.
      const checker = new EvidenceChecker();
      results.forEach((r, i) => checker.applyChecked(r, () => checkChainBatch(Buffer.from(batches[i]), cfg, width).facts));
      expect(checker.start()).toBe('genesis');
      expect(checker.rows).toBe(300);
    } finally {
      process.chdir(cwd);
      await pool.close();
    }
  });

  it('carry the chain hash at each watched seq in a batch\'s run: a checkpoint inside a batch needs no second look', async () => {
    const pool = new RowPool(1, [150, 9999]);
    try {
      const r = await pool.run({ kind: 'chain', bytes: Buffer.from(text), cfg, csvWidth: width });
      const local = checkChainBatch(Buffer.from(text), cfg, width).facts;
      expect(r.run?.watched).toEqual([[150, local[149].chain, local[149].at]]);
    } finally {
      await pool.close();
    }
  });

  it('stop a batch at its first line that fails a check of its own', async () => {
    const tampered = text.replace('line 150 ü', 'line 150 u');
    const pool = new RowPool(1);
    try {
      const r = await pool.run({ kind: 'chain', bytes: Buffer.from(tampered), cfg, csvWidth: width });
      expect(r.failAt).toBe(149);
      expect(r.failKind).toBe('row');
      // Line 1 as facts, lines 2 to 149 as one run.
      expect(r.facts).toHaveLength(1);
      expect(r.run?.n).toBe(148);
    } finally {
      await pool.close();
    }
  });
});

describe('the default number of verifier workers', () => {
  afterEach(() => jest.restoreAllMocks());

  it('is what --threads asks; else none for a small file or one core, 2 on two cores, at most 3', () => {
    const on = (cores: number, bytes: number) => {
      jest.spyOn(os, 'availableParallelism').mockReturnValue(cores);
      return workersFor(bytes, undefined);
    };
    expect(workersFor(WORKERS_FROM_BYTES, 0)).toBe(0);
    expect(workersFor(1, 4)).toBe(4);
    expect(on(8, WORKERS_FROM_BYTES - 1)).toBe(0);
    expect([1, 2, 3, 4, 16].map((cores) => on(cores, WORKERS_FROM_BYTES))).toEqual([0, 2, 2, 3, 3]);
  });
});
