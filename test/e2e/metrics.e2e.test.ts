import request from 'supertest';
import { startTestApp, TestApp } from '../helpers/test-app';
import { macroRequests } from '../helpers/macro-requests';
import { MAX_ATTEMPTS } from '../../src/webhooks/page-events-service';
import { waitFor } from '../helpers/wait-for';

const TOKEN = 'metrics-token-0123456789';

/** `/metrics` (issue 15): Prometheus text behind a bearer token, route patterns not paths, evidence health from the database. */
describe('/metrics', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp({ env: { ATTEST_METRICS_TOKEN: TOKEN } });
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const scrape = () => request(t.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
  const value = (text: string, line: RegExp) => {
    const m = text.split('\n').find((l) => line.test(l));
    return m === undefined ? undefined : Number(m.split(' ').pop());
  };

  it('needs the token (401 without or with another), and is off without one configured (404)', async () => {
    expect((await request(t.baseUrl).get('/metrics')).status).toBe(401);
    expect((await request(t.baseUrl).get('/metrics').set('Authorization', 'Bearer wrong-token-0123456789')).status).toBe(401);
    const off = await startTestApp({ devhost: false, install: false });
    try {
      expect((await request(off.baseUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN}`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('reports requests by route pattern and status, decisions, and the age of unsigned events', async () => {
    const page = d.pages.releaseChecklist;
    const m = macroRequests(t);
    expect((await m.render(d.users.alice.accountId, 'releaseChecklist')).status).toBe(200);
    const wf = await m.api(d.users.alice.accountId, 'releaseChecklist').get();
    const decided = await m.api(d.users.alice.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: 'ok', pageVersion: wf.body.boundVersion });
    expect(decided.status).toBe(201);
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const text = res.text;
    // The route pattern, never the page id or macro id of the request.
    expect(value(text, /^attest_http_request_duration_seconds_count\{method="POST",route="\/api\/pages\/:pageId\/workflows\/:macroId\/decisions",status="201"\}/)).toBe(1);
    expect(text).not.toContain(page.macroIds[0]);
    expect(value(text, /^attest_audit_appends_total\{action="decision\.approved"\}/)).toBe(1);
    // The decision's batch (group commit): one batch of one decision, which started as soon as it came.
    expect(value(text, /^attest_decision_batch_size_count /)).toBe(1);
    expect(value(text, /^attest_decision_batch_size_bucket\{le="1"\}/)).toBe(1);
    expect(value(text, /^attest_decision_batch_wait_seconds_count /)).toBe(1);
    expect(value(text, /^attest_decision_batch_wait_seconds_bucket\{le="0.01"\}/)).toBe(1);
    // Nothing signed yet: the oldest unsigned event has an age.
    expect(value(text, /^attest_unsigned_events_oldest_seconds /)).toBeGreaterThan(0);
    // Counted per tenant by age, never named: this one tenant's event is seconds old.
    expect(text).toMatch(/^attest_tenants_with_unsigned_events\{older_than_seconds="300"\} 0$/m);
    expect(text).not.toContain(d.clientKey);
    expect(text).toMatch(/^attest_webhook_inbox_unprocessed 0$/m);
    expect(text).toMatch(/^attest_webhook_inbox_retries\{state="retrying"\} 0$/m);
    expect(text).toMatch(/^attest_verification_failed_tenants 0$/m);
    expect(text).toMatch(/^attest_db_pool_connections\{state="used"\} \d+$/m);
    expect(text).toMatch(/^attest_process_process_cpu_seconds_total /m);
    // After a checkpoint nothing is waiting to be signed.
    expect(await t.checkpoints.checkpoint(d.clientKey, new Date())).toBe('signed');
    expect((await scrape()).text).toMatch(/^attest_unsigned_events_oldest_seconds 0$/m);
  });

  it('counts webhook deliveries that failed and wait for a retry, and those given up', async () => {
    const row = (attempts: number, n: number) => ({
      client_key: d.clientKey, dedupe_key: `metrics-${attempts}-${n}`, event: 'page_updated', page_id: d.pages.releaseChecklist.id,
      page_version: 99, event_at: new Date(), payload: {}, attempts,
    });
    await t.db('page_events').insert([row(1, 1), row(3, 2), row(MAX_ATTEMPTS, 3), row(0, 4)]);
    try {
      const text = (await scrape()).text;
      expect(text).toMatch(/^attest_webhook_inbox_retries\{state="retrying"\} 2$/m);
      expect(text).toMatch(/^attest_webhook_inbox_retries\{state="given_up"\} 1$/m);
      expect(text).toMatch(/^attest_webhook_inbox_unprocessed 4$/m);
    } finally {
      await t.db('page_events').where('dedupe_key', 'like', 'metrics-%').delete();
    }
  });

  it('says whether the instance hears tenant changes (its caches serve), and counts the listener\'s lost connections', async () => {
    const before = await scrape();
    expect(value(before.text, /^attest_tenant_cache_listening /)).toBe(1);
    const drops = value(before.text, /^attest_tenant_cache_listener_drops_total /);
    expect(drops).toBe(0);
    const pid = await t.viewCache.listener.backendPid();
    await t.db.raw('SELECT pg_terminate_backend(?)', [pid]);
    expect(await waitFor(() => !t.viewCache.listener.isListening, 5_000)).toBe(true);
    // (The gauge's 0 while deaf is in src/ops/metrics.db.test.ts: here the listener may be back within 100 ms.)
    expect(value((await scrape()).text, /^attest_tenant_cache_listener_drops_total /)).toBe(1);
    expect(await waitFor(() => t.viewCache.listener.isListening, 10_000)).toBe(true);
    const after = await scrape();
    expect(value(after.text, /^attest_tenant_cache_listening /)).toBe(1);
    expect(value(after.text, /^attest_tenant_cache_listener_drops_total /)).toBe(1);
  });
});
