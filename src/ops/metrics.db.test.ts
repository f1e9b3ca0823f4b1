import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { createAuditLog } from '../audit/audit-log';
import { createMetrics } from './metrics';

/** One database for the file: each test uses its own tenants. */
let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(() => tdb.drop());

/** The tenants' unsigned backlog as counts by age (issue 15): no tenant named, each one counted. */
describe('attest_tenants_with_unsigned_events', () => {
  const scrapeAt = async (at: number) => {
    const text = await createMetrics({ db: tdb.db, now: () => at }).registry.getSingleMetricAsString('attest_tenants_with_unsigned_events');
    return Object.fromEntries([...text.matchAll(/older_than_seconds="(\d+)"\} (\d+)/g)].map((m) => [m[1], Number(m[2])]));
  };

  const installed = (clientKey: string, state = 'installed') =>
    tdb.db('tenants').insert({ client_key: clientKey, addon_key: 'attest', base_url: `https://${clientKey}.atlassian.net/wiki`, shared_secret_enc: Buffer.alloc(40), state });

  it('counts each tenant whose oldest unsigned event is past each age', async () => {
    expect(await scrapeAt(Date.now())).toEqual({ 300: 0, 900: 0, 3600: 0, 86400: 0 });
    const audit = createAuditLog(tdb.db, Buffer.alloc(32, 7));
    const before = Date.now();
    for (const ck of ['metrics-a', 'metrics-b', 'metrics-c']) await installed(ck);
    for (const ck of ['metrics-a', 'metrics-b', 'metrics-c']) {
      for (let i = 0; i < 2; i++) {
        await tdb.db.transaction((trx) => audit.append(trx, ck, { action: 'workflow.archived', actor: { type: 'system' }, data: { previousState: 'pending', cause: `n ${i}` } }));
      }
    }
    const after = Date.now();
    expect(await scrapeAt(after)).toEqual({ 300: 0, 900: 0, 3600: 0, 86400: 0 });
    expect(await scrapeAt(before + 1000 * 1000)).toEqual({ 300: 3, 900: 3, 3600: 0, 86400: 0 });
    expect(await scrapeAt(after + 2 * 86400 * 1000)).toEqual({ 300: 3, 900: 3, 3600: 3, 86400: 3 });
    // A checkpoint over b's whole chain takes b out; one over c's first event leaves c's second unsigned.
    const checkpoint = (ck: string, seq: number) => ({ client_key: ck, seq, chain_hash: Buffer.alloc(32), signed_at: new Date(), signature: 'x', key_id: 'k' });
    await tdb.db('audit_checkpoints').insert([checkpoint('metrics-b', 2), checkpoint('metrics-c', 1)]);
    expect(await scrapeAt(after + 2 * 86400 * 1000)).toEqual({ 300: 2, 900: 2, 3600: 2, 86400: 2 });
  });

  it('scans the tenants\' heads once per scrape for both unsigned-event gauges, and again on the next scrape', async () => {
    const metrics = createMetrics({ db: tdb.db });
    const scans: string[] = [];
    const count = (q: { sql: string }) => q.sql.includes('audit_heads') && scans.push(q.sql);
    tdb.db.on('query', count);
    try {
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^attest_unsigned_events_oldest_seconds \d/m);
      expect(text).toMatch(/^attest_tenants_with_unsigned_events\{older_than_seconds="300"\} \d+$/m);
      expect(scans).toHaveLength(1);
      await metrics.registry.metrics();
      expect(scans).toHaveLength(2);
    } finally {
      tdb.db.off('query', count);
    }
  });

  it('leaves out an uninstalled tenant: its Confluence was the witness, so its last events stay unsigned until a reinstall', async () => {
    const audit = createAuditLog(tdb.db, Buffer.alloc(32, 7));
    await installed('metrics-gone', 'uninstalled');
    await tdb.db.transaction((trx) => audit.append(trx, 'metrics-gone', { action: 'workflow.archived', actor: { type: 'system' }, data: { previousState: 'pending', cause: 'last' } }));
    const later = Date.now() + 30 * 86400 * 1000;
    const counted = await scrapeAt(later);
    // Back to installed: the same tail counts again (the checkpoints job signs it from the next run).
    await tdb.db('tenants').where({ client_key: 'metrics-gone' }).update({ state: 'installed' });
    expect(await scrapeAt(later)).toEqual({ 300: counted[300] + 1, 900: counted[900] + 1, 3600: counted[3600] + 1, 86400: counted[86400] + 1 });
    await tdb.db('tenants').where({ client_key: 'metrics-gone' }).update({ state: 'uninstalled' });
    expect(await scrapeAt(later)).toEqual(counted);
  });
});

/** The webhook inbox gauges count what the retry job can still handle: deliveries of installed tenants. */
describe('the webhook inbox gauges', () => {
  it('leave out an uninstalled tenant’s deliveries, and count them again once it is installed', async () => {
    const received = new Date(Date.now() - 3600 * 1000);
    for (const [ck, state] of [['inbox-here', 'installed'], ['inbox-gone', 'uninstalled']] as const) {
      await tdb.db('tenants').insert({ client_key: ck, addon_key: 'attest', base_url: `https://${ck}.atlassian.net/wiki`, shared_secret_enc: Buffer.alloc(40), state });
      await tdb.db('page_events').insert({ client_key: ck, dedupe_key: `${ck}-1`, event: 'page_updated', page_id: '1', event_at: received, payload: {}, received_at: ck === 'inbox-gone' ? new Date(received.getTime() - 86400 * 1000) : received, attempts: 2 });
    }
    const read = async () => {
      const registry = createMetrics({ db: tdb.db }).registry;
      const text = (await Promise.all(['attest_webhook_inbox_unprocessed', 'attest_webhook_inbox_oldest_unprocessed_seconds', 'attest_webhook_inbox_retries'].map((m) => registry.getSingleMetricAsString(m)))).join('\n');
      const v = (re: RegExp) => Number(text.match(re)?.[1]);
      return { unprocessed: v(/^attest_webhook_inbox_unprocessed (\S+)$/m), oldestHours: Math.round(v(/^attest_webhook_inbox_oldest_unprocessed_seconds (\S+)$/m) / 3600), retrying: v(/^attest_webhook_inbox_retries\{state="retrying"\} (\S+)$/m) };
    };
    expect(await read()).toEqual({ unprocessed: 1, oldestHours: 1, retrying: 1 });
    await tdb.db('tenants').where({ client_key: 'inbox-gone' }).update({ state: 'installed' });
    expect(await read()).toEqual({ unprocessed: 2, oldestHours: 25, retrying: 2 });
  });
});

/** The tenant change listener's health (the caches of issue 15), as this instance's listener reports it. */
describe('attest_tenant_cache_listening and attest_tenant_cache_listener_drops_total', () => {
  it('read the listener at each scrape: 0 while it does not listen, and its drops so far', async () => {
    const listener = { isListening: true, drops: 0 };
    const metrics = createMetrics({ db: tdb.db, listener });
    const read = async () => {
      const text = (await metrics.registry.getSingleMetricAsString('attest_tenant_cache_listening')) + '\n' + (await metrics.registry.getSingleMetricAsString('attest_tenant_cache_listener_drops_total'));
      return [/^attest_tenant_cache_listening (\d+)$/m, /^attest_tenant_cache_listener_drops_total (\d+)$/m].map((re) => Number(text.match(re)?.[1]));
    };
    expect(await read()).toEqual([1, 0]);
    Object.assign(listener, { isListening: false, drops: 1 });
    expect(await read()).toEqual([0, 1]);
    Object.assign(listener, { isListening: true, drops: 3 });
    expect(await read()).toEqual([1, 3]);
  });

  it('are absent where no listener is given (the CLI, tests)', async () => {
    const text = await createMetrics({ db: tdb.db }).registry.metrics();
    expect(text).not.toContain('attest_tenant_cache');
  });
});
