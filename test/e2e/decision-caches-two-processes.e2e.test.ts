import request from 'supertest';
import { startSecondInstance } from '../helpers/processes';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait-for';

/**
 * The decision path's caches across two instances on one PostgreSQL (#15): this test's app (A, with the
 * devhost, where Confluence installs and admins save settings) and `src/server.ts` in a child process (B, same
 * database and keys). B keeps the tenant's shared secret and the space's policy in memory; a reinstall with a new
 * secret, an uninstall and a settings change committed through A must apply in B as soon as PostgreSQL's NOTIFY
 * reaches it (milliseconds; each wait below is bounded at 5 s for a busy machine), never after a timeout.
 */
describe('decision caches across two processes', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let b: Awaited<ReturnType<typeof startSecondInstance>>;
  let bBase: string;

  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    b = await startSecondInstance(t);
    bBase = b.baseUrl;
  }, 60_000);

  afterAll(async () => {
    await b?.stop();
    await t?.close();
  });

  /** Polls `probe` until it returns true: at most 5 s. */
  const soon = (probe: () => Promise<boolean>) => waitFor(probe, 5_000);

  const workflowPath = (pageKey: keyof typeof d.pages) => `/api/pages/${d.pages[pageKey].id}/workflows/${d.pages[pageKey].macroIds[0]}`;
  const getInB = (token: string, pageKey: keyof typeof d.pages = 'releaseChecklist') =>
    request(bBase).get(workflowPath(pageKey)).set('Authorization', `JWT ${token}`);

  it('a reinstall with a new secret, an uninstall and a reinstall through A apply in B', async () => {
    const bob = d.users.bob.accountId;
    expect((await macroRequests(t).render(bob, 'releaseChecklist')).status).toBe(200);
    const first = d.contextJwt(bob, { pageId: d.pages.releaseChecklist.id });
    // B learns the secret once and keeps it.
    for (let i = 0; i < 3; i++) expect((await getInB(first)).status).toBe(200);

    await d.install(); // Confluence re-installs with a new shared secret, through A
    const second = d.contextJwt(bob, { pageId: d.pages.releaseChecklist.id });
    expect(second).not.toBe(first);
    expect(await soon(async () => (await getInB(first)).status === 401)).toBe(true);
    expect((await getInB(second)).status).toBe(200);

    await d.uninstall();
    expect(await soon(async () => (await getInB(second)).status === 401)).toBe(true);
    expect((await getInB(second)).body.error.message).toMatch(/names no installation/);

    await d.install();
    const third = d.contextJwt(bob, { pageId: d.pages.releaseChecklist.id });
    expect(await soon(async () => (await getInB(third)).status === 200)).toBe(true);
    expect((await getInB(second)).status).toBe(401);
  });

  it('a space settings change saved through A decides the next decision in B', async () => {
    const alice = d.users.alice.accountId; // wrote adrQueue's current version and is one of its approvers
    expect((await macroRequests(t).render(d.users.bob.accountId, 'adrQueue')).status).toBe(200);
    const token = d.contextJwt(alice, { pageId: d.pages.adrQueue.id });
    const canDecideInB = async () => (await getInB(token, 'adrQueue')).body.viewer.canDecide as boolean;
    const decideInB = async () => {
      const wf = (await getInB(token, 'adrQueue')).body;
      return request(bBase).post(`${workflowPath('adrQueue')}/decisions`).set('Authorization', `JWT ${token}`).send({ decision: 'approve', comment: 'my own ADR', pageVersion: wf.boundVersion });
    };
    const adminToken = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' });
    const saveInA = async (allowSelfApproval: boolean) => {
      const current = await request(t.baseUrl).get('/api/spaces/ENG/settings').set('Authorization', `JWT ${adminToken}`);
      const res = await request(t.baseUrl).put('/api/spaces/ENG/settings').set('Authorization', `JWT ${adminToken}`).send({ ...current.body.settings, allowSelfApproval });
      expect(res.status).toBe(200);
    };

    // B reads the space's policy (the default forbids self-approval) and keeps it.
    expect(await canDecideInB()).toBe(false);
    expect(await canDecideInB()).toBe(false);

    await saveInA(true);
    expect(await soon(canDecideInB)).toBe(true);
    await saveInA(false);
    expect(await soon(async () => !(await canDecideInB()))).toBe(true);
    const refused = await decideInB();
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/separation of duties/);

    await saveInA(true);
    expect(await soon(canDecideInB)).toBe(true);
    expect((await decideInB()).status).toBe(201);
  });

  it('a delegation given and ended through A changes whom a decision\'s answer in B offers to decide for', async () => {
    const alice = d.users.alice.accountId;
    const bob = d.users.bob.accountId; // releaseChecklist waits on both (rule: all): open after Alice's approval
    expect((await macroRequests(t).render(alice, 'releaseChecklist')).status).toBe(200);
    const token = d.contextJwt(alice, { pageId: d.pages.releaseChecklist.id });
    const version = (await getInB(token)).body.boundVersion;
    // The answer to a repeated request is the workflow as it is now, with the caller's options computed afresh.
    const decideInB = () => request(bBase).post(`${workflowPath('releaseChecklist')}/decisions`).set('Authorization', `JWT ${token}`)
      .set('Idempotency-Key', 'two-processes-delegation').send({ decision: 'approve', comment: '', pageVersion: version });
    const offeredInB = async () => ((await decideInB()).body.viewer.onBehalfOf as Array<{ accountId: string }>).map((o) => o.accountId);
    expect((await decideInB()).status).toBe(201);
    expect(await offeredInB()).toEqual([]);
    expect(await offeredInB()).toEqual([]); // B now keeps the tenant's (empty) list of delegations

    const bobInA = `JWT ${d.contextJwt(bob, {})}`;
    const today = new Date().toISOString().slice(0, 10);
    const inThreeDays = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    expect((await request(t.baseUrl).put('/api/me/delegation').set('Authorization', bobInA).send({ delegate: alice, from: today, to: inThreeDays })).status).toBe(200);
    expect(await soon(async () => (await offeredInB()).includes(bob))).toBe(true);
    expect((await request(t.baseUrl).delete('/api/me/delegation').set('Authorization', bobInA)).status).toBe(200);
    expect(await soon(async () => (await offeredInB()).length === 0)).toBe(true);
  });

  it('a decision reads neither the installation, the space settings nor the delegations from the database (A, warm caches)', async () => {
    const bob = d.users.bob.accountId;
    const api = macroRequests(t).api(bob, 'onCall');
    expect((await macroRequests(t).render(bob, 'onCall')).status).toBe(200);
    const wf = (await api.get()).body;
    expect(wf.viewer.canDecide).toBe(true);
    await t.viewCache.listener.sync();
    await t.viewCache.cache.openDelegations(d.clientKey); // warm, as any earlier decision of the tenant leaves it
    const statements: string[] = [];
    const count = (q: { sql: string }) => void statements.push(q.sql);
    const misses = { ...t.viewCache.cache.misses };
    const restBefore = d.restCalls.length;
    t.db.on('query', count);
    try {
      expect((await api.decide({ decision: 'approve', comment: 'looks right', pageVersion: wf.boundVersion })).status).toBe(201);
    } finally {
      t.db.removeListener('query', count);
    }
    expect(statements.filter((s) => /"?(tenants|space_settings|delegations)"?/.test(s))).toEqual([]);
    // Where the page is now, not its body: v2 without body-format (docs/confluence-api.md).
    const pageReads = d.restCalls.slice(restBefore).filter((c) => c.path.startsWith(`/api/v2/pages/${d.pages.onCall.id}`));
    expect(pageReads.map((c) => c.path)).toEqual([`/api/v2/pages/${d.pages.onCall.id}`]);
    expect(t.viewCache.cache.misses.delegations).toBe(misses.delegations);
    expect(t.viewCache.cache.misses.tenant).toBe(misses.tenant);
    expect(t.viewCache.cache.misses.policy).toBe(misses.policy);
  });
});
