import request from 'supertest';
import { encodeSymmetric, SymmetricAlgorithm } from 'atlassian-jwt';
import { qshFor } from '../../src/devhost/devhost-jwt';
import { normaliseSettings } from '../../src/spaces/spaces-schemas';
import { DEFAULT_POLICY } from '../../src/approvals/space-policy';
import { ViewCacheStore } from '../../src/view-cache/view-cache-store';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait-for';

/**
 * The render cache (#15): a render when nothing changed runs no SQL, and every kind of write that changes what a
 * render reads is seen by the next render. Each writer test primes the cache, writes the way the app writes, and
 * then compares what the cache answers with the database: without the invalidation the cache keeps the old rows.
 */
describe('macro render cache', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let m: ReturnType<typeof macroRequests>;
  type PageKey = keyof NonNullable<TestApp['devhost']>['pages'];

  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    m = macroRequests(t);
  });
  afterAll(() => t.close());

  const where = (pageKey: PageKey, macro = 0) => {
    const page = d.pages[pageKey];
    return { spaceKey: d.page(page.id).spaceKey, pageId: page.id, macroId: page.macroIds[macro] };
  };
  const cached = (pageKey: PageKey, macro = 0) => {
    const w = where(pageKey, macro);
    return t.viewCache.cache.renderSnapshot(d.clientKey, w.spaceKey, w.pageId, w.macroId);
  };
  const inDatabase = async (pageKey: PageKey, macro = 0) => {
    const w = where(pageKey, macro);
    const rows = await new ViewCacheStore(t.db).renderRows(d.clientKey, w.spaceKey, w.pageId, w.macroId, new Date().toISOString().slice(0, 10));
    return { policy: rows.spaceSettings ? normaliseSettings(rows.spaceSettings) : DEFAULT_POLICY, workflow: rows.workflow, decisions: rows.decisions, delegations: rows.delegations, pageWorkflows: rows.pageWorkflows };
  };
  const json = (v: unknown) => JSON.parse(JSON.stringify(v));

  /** Renders through HTTP until the macro's rows are cached (a render that writes leaves nothing cached). */
  async function prime(pageKey: PageKey, as = d.users.alice.accountId, macro = 0): Promise<void> {
    for (let i = 0; i < 5; i++) {
      expect((await m.render(as, pageKey, macro)).status).toBe(200);
      await t.viewCache.listener.sync();
      const misses = t.viewCache.cache.misses.render;
      await cached(pageKey, macro);
      if (t.viewCache.cache.misses.render === misses) return;
    }
    throw new Error(`${pageKey} did not stay cached`);
  }

  /** After a write: once this instance has heard every committed change, the cache answers what the database holds. */
  async function expectCacheMatchesDatabase(pageKey: PageKey, macro = 0): Promise<void> {
    await t.viewCache.listener.sync();
    expect(json(await cached(pageKey, macro))).toEqual(json(await inDatabase(pageKey, macro)));
  }

  function countQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: string[] }> {
    const queries: string[] = [];
    const listener = (q: { sql: string }) => queries.push(q.sql);
    t.db.on('query', listener);
    return fn().then(
      (result) => {
        t.db.off('query', listener);
        return { result, queries };
      },
      (err) => {
        t.db.off('query', listener);
        throw err;
      },
    );
  }

  it('renders an unchanged macro without a single SQL statement', async () => {
    await prime('releaseChecklist');
    const { result, queries } = await countQueries(() => m.render(d.users.alice.accountId, 'releaseChecklist'));
    expect(result.status).toBe(200);
    expect(result.text).toContain('Approvals');
    expect(queries).toEqual([]);
  });

  it('a decision', async () => {
    await prime('releaseChecklist');
    const stale = json(await cached('releaseChecklist'));
    const res = await m.api(d.users.alice.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: 'render-cache decision', pageVersion: stale.workflow.boundVersion });
    expect(res.status).toBe(201);
    await expectCacheMatchesDatabase('releaseChecklist');
    expect((await cached('releaseChecklist')).decisions.map((x) => x.comment)).toContain('render-cache decision');
    expect((await m.render(d.users.alice.accountId, 'releaseChecklist')).text).toContain('render-cache decision');
  });

  it('a reconfigured macro (the editor saved new parameters)', async () => {
    await prime('onCall');
    await d.saveMacro(d.pages.onCall.id, d.pages.onCall.macroIds[0], { approvers: d.users.bob.accountId, rule: 'all' }, d.users.author.accountId);
    // The render signed for the new parameters reconfigures the workflow (a write)…
    expect((await m.render(d.users.alice.accountId, 'onCall')).status).toBe(200);
    // …and nothing keeps the old configuration afterwards.
    await expectCacheMatchesDatabase('onCall');
    expect((await cached('onCall')).workflow!.approvers).toEqual([d.users.bob.accountId]);
  });

  it('page webhooks (an edit, a trashed page)', async () => {
    await prime('adrQueue');
    const before = (await cached('adrQueue')).workflow!;
    await d.editPage(d.pages.adrQueue.id, { body: `${d.page(d.pages.adrQueue.id).body}<p>More context.</p>`, as: d.users.author.accountId });
    const edited = await waitFor(async () => (await inDatabase('adrQueue')).workflow!.boundVersion > before.boundVersion);
    expect(edited).toBe(true);
    await expectCacheMatchesDatabase('adrQueue');

    await prime('adrQueue');
    await d.trashPage(d.pages.adrQueue.id, { as: d.users.author.accountId });
    expect(await waitFor(async () => (await inDatabase('adrQueue')).workflow!.state === 'archived')).toBe(true);
    await expectCacheMatchesDatabase('adrQueue');
    expect((await cached('adrQueue')).workflow!.state).toBe('archived');
    await d.restorePage(d.pages.adrQueue.id, { as: d.users.author.accountId });
    expect(await waitFor(async () => (await inDatabase('adrQueue')).workflow!.state !== 'archived')).toBe(true);
  });

  it('the scheduler expiring an approval (recertification)', async () => {
    await prime('postmortem');
    const wf = (await cached('postmortem')).workflow!;
    // Set up an approval given 40 days ago with a 30-day review interval (setup, not the writer under test).
    await t.db('workflows')
      .where({ client_key: d.clientKey, id: wf.id })
      .update({ state: 'approved', approved_at: new Date(Date.now() - 40 * 86_400_000), review_days: 30 });
    // Cached as a render reads it (a render itself would reconfigure the review interval back to the macro's).
    await t.viewCache.listener.sync();
    expect((await cached('postmortem')).workflow!.state).toBe('approved');
    const misses = t.viewCache.cache.misses.render;
    await cached('postmortem');
    expect(t.viewCache.cache.misses.render).toBe(misses);
    const expired = await t.approvals.expireDue(d.clientKey, new Date());
    expect(expired.map((w) => w.id)).toContain(wf.id);
    await expectCacheMatchesDatabase('postmortem');
    expect((await cached('postmortem')).workflow!.state).toBe('expired');
  });

  it('space settings saved by a space admin', async () => {
    await prime('releaseChecklist');
    expect((await cached('releaseChecklist')).policy.allowSelfApproval).toBe(false);
    const token = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' });
    const current = await request(t.baseUrl).get('/api/spaces/ENG/settings').set('Authorization', `JWT ${token}`);
    expect(current.status).toBe(200);
    const saved = await request(t.baseUrl)
      .put('/api/spaces/ENG/settings')
      .set('Authorization', `JWT ${token}`)
      .send({ ...current.body.settings, resetOnEdit: 'any', reminderCadenceDays: 3 });
    expect(saved.status).toBe(200);
    await expectCacheMatchesDatabase('releaseChecklist');
    expect((await cached('releaseChecklist')).policy).toMatchObject({ resetOnEdit: 'any', reminderCadenceDays: 3 });
  });

  it('a delegation named and ended in My approvals (issue 16)', async () => {
    await prime('releaseChecklist');
    expect((await cached('releaseChecklist')).delegations).toEqual([]);
    const as = `JWT ${d.contextJwt(d.users.bob.accountId)}`;
    const today = new Date().toISOString().slice(0, 10);
    const put = await request(t.baseUrl).put('/api/me/delegation').set('Authorization', as).send({ delegate: d.users.secMember.accountId, from: today, to: today });
    expect(put.status).toBe(200);
    await expectCacheMatchesDatabase('releaseChecklist');
    expect((await cached('releaseChecklist')).delegations).toEqual([expect.objectContaining({ delegatorId: d.users.bob.accountId, delegateId: d.users.secMember.accountId })]);
    expect((await request(t.baseUrl).delete('/api/me/delegation').set('Authorization', as)).status).toBe(200);
    await expectCacheMatchesDatabase('releaseChecklist');
    expect((await cached('releaseChecklist')).delegations).toEqual([]);
  });

  it('keeps no delegation that lapsed before today: they are never active again, and only grow in number', async () => {
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const people = Array.from({ length: 40 }, (_, i) => `acc-lapsed-${i}`);
    // Forty delegations nobody ended that ran out yesterday or before, one that starts next week.
    await t.db('delegations').insert([
      ...people.map((p, i) => ({ client_key: d.clientKey, delegator_id: p, delegate_id: d.users.alice.accountId, starts_on: day(-30 - i), ends_on: day(-1 - i) })),
      { client_key: d.clientKey, delegator_id: 'acc-away-soon', delegate_id: d.users.alice.accountId, starts_on: day(7), ends_on: day(14) },
    ]);
    try {
      await prime('releaseChecklist');
      expect((await cached('releaseChecklist')).delegations?.map((g) => g.delegatorId)).toEqual(['acc-away-soon']);
      expect((await t.viewCache.cache.openDelegations(d.clientKey)).map((g) => g.delegatorId)).toEqual(['acc-away-soon']);
    } finally {
      await t.db('delegations').where({ client_key: d.clientKey }).whereIn('delegator_id', [...people, 'acc-away-soon']).delete();
    }
  });

  it('privacy erasure of a closed account', async () => {
    await prime('releaseChecklist');
    expect((await cached('releaseChecklist')).decisions.some((x) => x.approverId === d.users.alice.accountId)).toBe(true);
    expect(await t.privacy.erase(d.clientKey, d.users.alice.accountId)).toBe(true);
    await expectCacheMatchesDatabase('releaseChecklist');
    expect((await cached('releaseChecklist')).decisions.some((x) => x.approverId === d.users.alice.accountId)).toBe(false);
  });

  it('install and uninstall: a new shared secret at once, nothing after an uninstall', async () => {
    await prime('releaseChecklist', d.users.bob.accountId);
    const oldUrl = d.macroUrl(d.users.bob.accountId, d.pages.releaseChecklist.id, d.pages.releaseChecklist.macroIds[0]);
    expect((await t.viewCache.cache.tenant(d.clientKey))?.sharedSecret).toBe(d.tenant().sharedSecret);
    await d.install(); // a new shared secret
    await t.viewCache.listener.sync();
    expect((await t.viewCache.cache.tenant(d.clientKey))?.sharedSecret).toBe(d.tenant().sharedSecret);
    expect((await request(t.baseUrl).get(m.path(oldUrl))).status).toBe(401);
    expect((await m.render(d.users.bob.accountId, 'releaseChecklist')).status).toBe(200);

    const url = d.macroUrl(d.users.bob.accountId, d.pages.releaseChecklist.id, d.pages.releaseChecklist.macroIds[0]);
    await d.uninstall();
    await t.viewCache.listener.sync();
    expect(await t.viewCache.cache.tenant(d.clientKey)).toBeNull();
    expect((await request(t.baseUrl).get(m.path(url))).status).toBe(401);
    await d.install();
    await t.viewCache.listener.sync();
  });

  it('stops serving from the cache when its listener connection drops, and serves again once it listens', async () => {
    await prime('releaseChecklist', d.users.bob.accountId);
    const pid = await t.viewCache.listener.backendPid();
    expect(pid).not.toBeNull();
    await t.db.raw('SELECT pg_terminate_backend(?)', [pid]);
    expect(await waitFor(async () => !t.viewCache.cache.isServing, 5_000)).toBe(true);
    // A write while nobody listens: the render must still see it (the cache is bypassed, then refilled).
    const wf = (await inDatabase('releaseChecklist')).workflow!;
    await t.db('workflows').where({ client_key: d.clientKey, id: wf.id }).update({ title: 'Written while deaf' });
    const misses = t.viewCache.cache.misses.render;
    expect((await cached('releaseChecklist')).workflow!.title).toBe('Written while deaf');
    expect(t.viewCache.cache.misses.render).toBe(misses + 1);
    expect(await waitFor(async () => t.viewCache.cache.isServing, 10_000)).toBe(true);
    await expectCacheMatchesDatabase('releaseChecklist');
    await prime('releaseChecklist', d.users.bob.accountId);
  });

  describe('the lean page-JWT check of /macro', () => {
    const page = () => d.pages.releaseChecklist;
    /** The macro URL Confluence would sign, without its jwt, and a token for it with the claims given. */
    function unsigned(): string {
      const u = new URL(d.macroUrl(d.users.bob.accountId, page().id, page().macroIds[0]));
      u.searchParams.delete('jwt');
      return m.path(u.toString());
    }
    const sign = (claims: Record<string, unknown>, secret = d.tenant().sharedSecret) => encodeSymmetric(claims, secret, SymmetricAlgorithm.HS256);
    const claimsFor = (path: string, over: Record<string, unknown> = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return { iss: d.clientKey, sub: d.users.bob.accountId, iat: now, exp: now + 180, qsh: qshFor('GET', path, t.baseUrl), context: { user: { accountId: d.users.bob.accountId } }, ...over };
    };
    const get = (path: string, token: string) => request(t.baseUrl).get(`${path}&jwt=${encodeURIComponent(token)}`);

    it('takes a token as Confluence signs it, and sends no X-acpt session token back', async () => {
      const path = unsigned();
      const res = await get(path, sign(claimsFor(path)));
      expect(res.status).toBe(200);
      expect(res.headers['x-acpt']).toBeUndefined();
    });

    it('refuses an expired token', async () => {
      const path = unsigned();
      const now = Math.floor(Date.now() / 1000);
      const res = await get(path, sign(claimsFor(path, { iat: now - 600, exp: now - 1 })));
      expect(res.status).toBe(401);
      expect(res.text).toContain('expired');
    });

    it('refuses a token without exp, or issued in the future', async () => {
      const path = unsigned();
      const { exp: _exp, ...noExp } = claimsFor(path);
      expect((await get(path, sign(noExp))).status).toBe(401);
      const now = Math.floor(Date.now() / 1000);
      expect((await get(path, sign(claimsFor(path, { iat: now + 3600, exp: now + 3700 })))).status).toBe(401);
    });

    it('refuses a token whose qsh is for another URL (other parameters, a context token)', async () => {
      const path = unsigned();
      const other = path.replace(/rule=[^&]*/, 'rule=any');
      expect(other).not.toBe(path);
      const res = await get(other, sign(claimsFor(path)));
      expect(res.status).toBe(401);
      expect(res.text).toContain('query string hash');
      expect((await get(path, sign(claimsFor(path, { qsh: 'context-qsh' })))).status).toBe(401);
    });

    it('refuses an unknown issuer, and an audience that is not the issuer', async () => {
      const path = unsigned();
      expect((await get(path, sign(claimsFor(path, { iss: 'not-an-installation' })))).status).toBe(401);
      const other = await d.installTenant();
      expect((await get(path, sign(claimsFor(path, { aud: [other.clientKey] })))).status).toBe(401);
    });

    it('refuses a token signed with another secret (another tenant’s, or a guess)', async () => {
      const path = unsigned();
      const other = await d.installTenant();
      expect((await get(path, sign(claimsFor(path), other.sharedSecret))).status).toBe(401);
      expect((await get(path, sign(claimsFor(path), 'x'.repeat(64)))).status).toBe(401);
      // The other tenant's own token names it, and is checked against its secret: its rows, never ours.
      const own = await get(path, sign(claimsFor(path, { iss: other.clientKey }), other.sharedSecret));
      expect(own.text).not.toContain('render-cache decision');
    });
  });
});
