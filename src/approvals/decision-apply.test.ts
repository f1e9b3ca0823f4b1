import { ManualClock } from '../lib/clock';
import { silentLogger } from '../lib/logger';
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
