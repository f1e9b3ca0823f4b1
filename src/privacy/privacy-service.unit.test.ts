import { FakePrivacyStores } from '../../test/fakes/fake-privacy-stores';
import { silentLogger } from '../lib/logger';
import { PrivacyReportClient, RateLimitedError, ReportedAccount, ReportResult } from './privacy-client';
import { DEFAULT_CYCLE_HOURS, PrivacyService } from './privacy-service';

const CK = 'tenant-a';
const T0 = new Date('2026-06-01T00:00:00.000Z');
const HOUR = 3_600_000;

/** Atlassian's reporting API as a script: each call answers with the next entry (a result, or a 429). */
class ScriptedClient implements PrivacyReportClient {
  readonly calls: ReportedAccount[][] = [];
  constructor(private readonly script: Array<ReportResult | RateLimitedError>) {}
  async report(_ck: string, accounts: ReportedAccount[]): Promise<ReportResult> {
    this.calls.push(accounts);
    const next = this.script.shift() ?? { closed: [], cyclePeriodHours: null };
    if (next instanceof RateLimitedError) throw next;
    return next;
  }
}

function privacyOnFakes(script: Array<ReportResult | RateLimitedError>, accounts = 100) {
  const stores = new FakePrivacyStores();
  for (let i = 0; i < accounts; i++) stores.accounts.set(`acc-${i}`, { updatedAt: T0.toISOString(), ref: `ref-${i}` });
  const client = new ScriptedClient(script);
  return { stores, client, service: new PrivacyService({ stores, client, logger: silentLogger() }) };
}

/** The personal data reporting cycle on in-memory stores: batches, erasure, and Atlassian's rate limit. */
describe('PrivacyService.runCycle', () => {
  it('reports in batches of 90 and erases the closed accounts, each with a subject.erased event naming only its ref', async () => {
    const { service, stores, client } = privacyOnFakes([{ closed: ['acc-3'], cyclePeriodHours: 24 }, { closed: ['acc-95'], cyclePeriodHours: null }]);
    expect(await service.runCycle(CK, T0)).toEqual({ status: 'reported', reported: 100, erased: 2 });
    expect(client.calls.map((c) => c.length)).toEqual([90, 10]);
    expect(stores.erasedAs.get('acc-3')).toBe('erased:ref-3');
    expect(stores.audit.events.map((e) => e.data)).toEqual([
      { ref: 'ref-3', reason: 'the account was closed (Atlassian personal data reporting)' },
      { ref: 'ref-95', reason: 'the account was closed (Atlassian personal data reporting)' },
    ]);
    // The shortest Cycle-Period given decides when the next cycle is due.
    expect(stores.savedCycle).toMatchObject({ nextDueAt: new Date(T0.getTime() + 24 * HOUR), retryAfter: null, lastReported: 100, erasedTotal: 2 });
  });

  it('stops at a 429 until Retry-After has passed, keeping what it erased, then starts the cycle again', async () => {
    const { service, stores, client } = privacyOnFakes([{ closed: ['acc-1'], cyclePeriodHours: null }, new RateLimitedError(600)]);
    expect(await service.runCycle(CK, T0)).toEqual({ status: 'rate-limited', reported: 90, erased: 1 });
    expect(stores.savedCycle).toMatchObject({ retryAfter: new Date(T0.getTime() + 600_000), erasedTotal: 1, lastReportedAt: null });
    expect(stores.erasedAs.has('acc-1')).toBe(true);

    // Before Retry-After: nothing is sent.
    expect(await service.runCycle(CK, new Date(T0.getTime() + 599_000))).toEqual({ status: 'not-due', reported: 0, erased: 0 });
    expect(client.calls).toHaveLength(2);
    // After it: the whole cycle again (the erased account is no longer stored, so not reported).
    const later = new Date(T0.getTime() + 601_000);
    expect(await service.runCycle(CK, later)).toEqual({ status: 'reported', reported: 99, erased: 0 });
    expect(stores.savedCycle).toMatchObject({ nextDueAt: new Date(later.getTime() + DEFAULT_CYCLE_HOURS * HOUR), retryAfter: null, erasedTotal: 1 });
  });

  it('erases nothing and records no event for a closed account it no longer stores', async () => {
    const { service, stores } = privacyOnFakes([{ closed: ['acc-unknown'], cyclePeriodHours: null }], 3);
    expect(await service.runCycle(CK, T0)).toEqual({ status: 'reported', reported: 3, erased: 0 });
    expect(stores.audit.events).toHaveLength(0);
  });

  it('is not due again before the cycle period has passed', async () => {
    const { service, client } = privacyOnFakes([], 3);
    await service.runCycle(CK, T0);
    expect((await service.runCycle(CK, new Date(T0.getTime() + HOUR))).status).toBe('not-due');
    expect(client.calls).toHaveLength(1);
  });
});
