import { ManualClock } from '../lib/clock';
import { silentLogger } from '../lib/logger';
import type { DecisionBatchTx } from './approvals-ports';
import type { Workflow } from './approvals-types';
import { DecisionApplier, DecisionJob } from './decision-apply';
import { DEFAULT_POLICY } from './space-policy';

const NOW = new Date('2026-12-04T10:00:00.000Z');

const job = (who: string): DecisionJob => ({
  p: { clientKey: 'ck', accountId: who, hostBaseUrl: 'https://example.atlassian.net/wiki' },
  pageId: 'p',
  macroId: 'm',
  input: { decision: 'approve', comment: 'ok', pageVersion: 3 } as DecisionJob['input'],
  viewedVersion: null,
  idempotencyKey: null,
  requestHash: 'h',
  on: { accountId: who, delegation: null },
  viaGroups: [],
  policy: DEFAULT_POLICY,
});

/** A DecisionApplier whose every transaction fails with `error`, counting the transactions it tried. */
function failingWith(error: Error) {
  const tried = { transactions: 0 };
  const stores = {
    decisionBatch: async () => {
      tried.transactions++;
      throw error;
    },
  };
  return { tried, applier: new DecisionApplier({ stores: stores as never, clock: new ManualClock(NOW), logger: silentLogger() }) };
}

describe('DecisionApplier when a batch fails', () => {
  const jobs = ['acc-ann', 'acc-ben', 'acc-cat', 'acc-dan'].map(job);

  it('answers every job with the error of a database that cannot be reached, in one try (no one-by-one retries)', async () => {
    const unreachable = Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' });
    const { tried, applier } = failingWith(unreachable);
    const answers = await applier.apply('ck', jobs);
    expect(answers).toEqual(jobs.map(() => ({ ok: false, error: unreachable })));
    expect(tried.transactions).toBe(1);
  });

  it('applies the jobs one by one after an error PostgreSQL answered (it may be one job’s), each failing only its own', async () => {
    const refused = Object.assign(new Error('duplicate key value violates unique constraint'), { severity: 'ERROR', code: '23505' });
    const { tried, applier } = failingWith(refused);
    const answers = await applier.apply('ck', jobs);
    expect(answers.every((a) => !a.ok && a.error === refused)).toBe(true);
    expect(tried.transactions).toBe(1 + jobs.length);
  });
});

describe('DecisionApplier when the commit cannot be built or its answer is lost', () => {
  const wf: Workflow = {
    id: 'w-1', clientKey: 'ck', pageId: 'p', contentType: 'page', macroId: 'm', title: null, after: null, pagePosition: null, spaceKey: 'ENG',
    pageTitle: 'Runbook', state: 'pending', stateBeforeArchive: null, rule: 'quorum', quorum: 9, rejections: 9, approvers: ['acc-ann', 'acc-ben'],
    groups: [], dueDate: null, reviewDays: null, boundVersion: 3, bodyHash: null, boundAuthorId: 'acc-author', round: 1, approvedAt: null,
    expiresAt: null, lastDecisionAt: null, appUnreadableSince: null, createdAt: NOW, updatedAt: NOW,
  };
  /** Transactions that read `wf` and fail in writeAndCommit, before `sending` is called or after it. */
  function failingCommit(when: 'before sending' | 'after sending') {
    const tried = { transactions: 0 };
    const lost = new Error(when === 'before sending' ? 'audit event: not plain JSON' : 'Connection terminated unexpectedly');
    const tx: DecisionBatchTx = {
      lockAndRead: async () => ({ workflows: [wf], decisions: new Map([[wf.id, []]]), requests: new Map(), pageWorkflows: [wf], refs: new Map() }),
      writeAndCommit: async (_ck, _w, sending) => {
        if (when === 'after sending') sending?.();
        throw lost;
      },
    };
    const stores = {
      decisionBatch: async <T>(work: (t: DecisionBatchTx) => Promise<T>) => {
        tried.transactions++;
        return work(tx);
      },
    };
    return { tried, lost, applier: new DecisionApplier({ stores: stores as never, clock: new ManualClock(NOW), logger: silentLogger() }) };
  }

  it('tries each decision alone after a failure before anything was sent (nothing committed)', async () => {
    const { tried, applier } = failingCommit('before sending');
    await applier.apply('ck', [job('acc-ann'), job('acc-ben')]);
    expect(tried.transactions).toBe(3);
  });

  it('never applies again a batch whose commit was sent and not answered (it may have committed)', async () => {
    const { tried, lost, applier } = failingCommit('after sending');
    const answers = await applier.apply('ck', [job('acc-ann'), job('acc-ben')]);
    expect(answers).toEqual([{ ok: false, error: lost }, { ok: false, error: lost }]);
    expect(tried.transactions).toBe(1);
  });
});
