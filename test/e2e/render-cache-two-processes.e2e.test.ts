import { startSecondInstance } from '../helpers/processes';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * Two instances on one PostgreSQL (#15): this test's app (A, with the devhost) and `src/server.ts` in a child
 * process (B, same database and keys). A render in B that is cached must show a decision recorded through A.
 */
describe('render cache across two processes', () => {
  let t: TestApp;
  let b: Awaited<ReturnType<typeof startSecondInstance>>;
  let bBase: string;

  beforeAll(async () => {
    t = await startTestApp();
    b = await startSecondInstance(t);
    bBase = b.baseUrl;
  }, 60_000);

  afterAll(async () => {
    await b?.stop();
    await t?.close();
  });

  it('a decision recorded in one process is in the next render of the other', async () => {
    const d = t.devhost!;
    const m = macroRequests(t);
    const page = d.pages.releaseChecklist;
    // The same signed iframe URL, sent to B (the qsh covers the path and query, not the host).
    const renderInB = async () => {
      const url = d.macroUrl(d.users.bob.accountId, page.id, page.macroIds[0]).replace(t.baseUrl, bBase);
      const res = await fetch(url);
      return { status: res.status, html: await res.text() };
    };
    // A creates the workflow; B reads it once, then serves it from its cache.
    expect((await m.render(d.users.bob.accountId, 'releaseChecklist')).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const r = await renderInB();
      expect(r.status).toBe(200);
      expect(r.html).not.toContain('decided in process A');
    }
    const wf = await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first();
    const res = await m.api(d.users.bob.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: 'decided in process A', pageVersion: wf.bound_version });
    expect(res.status).toBe(201);

    // NOTIFY reaches B within milliseconds; bounded at 5 s for a busy machine.
    let seen = false;
    const until = Date.now() + 5_000;
    for (let i = 0; i < 100 && !seen && Date.now() < until; i++) {
      seen = (await renderInB()).html.includes('decided in process A');
      if (!seen) await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toBe(true);
  });
});
