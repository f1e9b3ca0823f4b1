import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { SpaceDashboardStore } from '../../src/spaces/space-dashboard-store';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/** Space settings and the space dashboard through the whole stack: devhost JWTs and space permissions, Postgres. */
describe('space settings and dashboard end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const path = (url: string) => url.slice(t.baseUrl.length);
  const spaceToken = (as: string, spaceKey: string, clientKey?: string) => d.contextJwt(as, { spaceKey }, clientKey ? { clientKey } : undefined);
  const settingsApi = (token: string, spaceKey = 'ENG') => ({
    get: () => request(t.baseUrl).get(`/api/spaces/${spaceKey}/settings`).set('Authorization', `JWT ${token}`),
    put: (body: object) => request(t.baseUrl).put(`/api/spaces/${spaceKey}/settings`).set('Authorization', `JWT ${token}`).send(body),
  });
  const admin = () => settingsApi(spaceToken(d.users.spaceAdmin.accountId, 'ENG'));
  const render: ReturnType<typeof macroRequests>['render'] = (...args) => macroRequests(t).render(...args);
  const workflowApi = (as: string, pageKey: keyof typeof d.pages, macroIndex = 0) => macroRequests(t).api(as, pageKey, macroIndex);
  const settingsEvents = () => t.db('audit_events').where({ client_key: d.clientKey, action: 'settings.changed' }).orderBy('seq');

  const defaults = {
    allowSelfApproval: false,
    resetOnEdit: 'content',
    reminderCadenceDays: 7,
    exportRole: 'space-admins',
    defaults: { approvers: [], groups: [], rule: 'all', quorum: null, rejections: 1, dueOffsetDays: null, reviewDays: null },
  };

  describe('who may see and change settings', () => {
    it('answers a space admin (listed by name) with the defaults until someone saves', async () => {
      const res = await admin().get();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ spaceKey: 'ENG', saved: false, updatedBy: null, settings: defaults });
    });

    it('answers a space admin through a group (SEC is administered by the site-admins group)', async () => {
      const res = await settingsApi(spaceToken(d.users.siteAdmin.accountId, 'SEC'), 'SEC').get();
      expect(res.status).toBe(200);
      // …who is not an admin of SEC by name, and not an admin of a space whose admin groups they are not in
      const spaceAdminOfSec = await settingsApi(spaceToken(d.users.spaceAdmin.accountId, 'SEC'), 'SEC').get();
      expect(spaceAdminOfSec.status).toBe(200);
      const secMember = await settingsApi(spaceToken(d.users.secMember.accountId, 'SEC'), 'SEC').get();
      expect(secMember.status).toBe(403);
    });

    it('refuses a non-admin holding a context JWT obtained from the macro (403), and changes nothing', async () => {
      const fromMacro = d.contextJwt(d.users.alice.accountId, { pageId: d.pages.releaseChecklist.id, macroId: d.pages.releaseChecklist.macroIds[0] });
      const api = settingsApi(fromMacro);
      const get = await api.get();
      expect(get.status).toBe(403);
      expect(get.body.error.message).toMatch(/Only admins of space ENG/);
      expect(JSON.stringify(get.body)).not.toMatch(/resetOnEdit/);
      const put = await api.put({ ...defaults, allowSelfApproval: true });
      expect(put.status).toBe(403);
      expect(await t.db('space_settings').where({ client_key: d.clientKey })).toHaveLength(0);
      const list = await request(t.baseUrl).get('/api/spaces/ENG/workflows').set('Authorization', `JWT ${fromMacro}`);
      expect(list.status).toBe(403);
    });

    it('refuses calls without a token (401) and the screen to a non-admin (403 page)', async () => {
      expect((await request(t.baseUrl).get('/api/spaces/ENG/settings')).status).toBe(401);
      const nora = await request(t.baseUrl).get(path(d.spaceToolsUrl(d.users.nora.accountId, 'ENG'))).set('Accept', 'text/html');
      expect(nora.status).toBe(403);
      expect(nora.text).toContain('Only admins of space ENG');
      expect(nora.text).not.toContain('space-settings-form');
      const ada = await request(t.baseUrl).get(path(d.spaceToolsUrl(d.users.spaceAdmin.accountId, 'ENG'))).set('Accept', 'text/html');
      expect(ada.status).toBe(200);
      expect(ada.text).toContain('id="space-settings-form"');
      expect(ada.text).toContain('Workflows');
    });
  });

  describe('saving settings', () => {
    it('validates the body strictly (unknown fields, bad values, a quorum rule without a quorum)', async () => {
      const cases: Array<[object, RegExp]> = [
        [{ ...defaults, extra: 1 }, /extra/],
        [{ ...defaults, resetOnEdit: 'sometimes' }, /^"When the page is edited" must be content, any or never$/],
        // messages name fields as the settings screen does, never the JSON names
        [{ ...defaults, reminderCadenceDays: 0 }, /^Remind approvers every … days must be at least 1$/],
        [{ ...defaults, defaults: { ...defaults.defaults, rule: 'quorum', quorum: null } }, /^A quorum rule needs a Quorum of 1 or more$/],
        [{ ...defaults, defaults: { ...defaults.defaults, approvers: ['<script>'] } }, /account IDs/],
        [{ ...defaults, defaults: { ...defaults.defaults, colour: 'red' } }, /colour/],
        [{ allowSelfApproval: true }, /When the page is edited/],
      ];
      for (const [body, message] of cases) {
        const res = await admin().put(body);
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(message);
      }
      expect(await settingsEvents()).toHaveLength(0);
    });

    it('persists a change and records one settings.changed event with before and after, people as refs', async () => {
      const bob = d.users.bob.accountId;
      const next = {
        ...defaults,
        resetOnEdit: 'any',
        reminderCadenceDays: 3,
        defaults: { ...defaults.defaults, approvers: [bob], groups: ['security'], rule: 'any', rejections: 2, dueOffsetDays: 5, reviewDays: 30 },
      };
      const res = await admin().put(next);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ changed: true, saved: true, settings: next, updatedBy: { accountId: d.users.spaceAdmin.accountId, displayName: 'Ada Spaceadmin' } });
      expect(res.body.people).toEqual([{ accountId: bob, displayName: 'Bob Approver' }]);
      expect((await admin().get()).body).toMatchObject({ saved: true, settings: next });

      const [event] = await settingsEvents();
      expect(event).toMatchObject({ space_key: 'ENG' });
      const canonical = JSON.parse(event.canonical);
      expect(canonical.data.before).toMatchObject({ resetOnEdit: 'content', defaults: { approvers: [], rule: 'all' } });
      expect(canonical.data.after).toMatchObject({ resetOnEdit: 'any', reminderCadenceDays: 3, defaults: { groups: ['security'], rule: 'any', dueOffsetDays: 5 } });
      expect(canonical.data.changed).toEqual(expect.arrayContaining(['resetOnEdit', 'reminderCadenceDays', 'defaults.approvers', 'defaults.rule']));
      const [bobRef] = await t.db('audit_subjects').where({ client_key: d.clientKey, account_id: bob }).pluck('ref');
      expect(canonical.data.after.defaults.approvers).toEqual([bobRef]);
      expect(event.canonical).not.toContain(bob);
      expect(event.canonical).not.toContain(d.users.spaceAdmin.accountId);
      expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);

      // the same settings again are no change: no event
      const again = await admin().put(next);
      expect(again.body.changed).toBe(false);
      expect(await settingsEvents()).toHaveLength(1);
      // back to the defaults: a second event whose before is the first one's after
      expect((await admin().put(defaults)).body.changed).toBe(true);
      const events = await settingsEvents();
      expect(events).toHaveLength(2);
      expect(JSON.parse(events[1].canonical).data.before).toEqual(canonical.data.after);
    });

    it("keeps one tenant's settings away from another installation of the same site", async () => {
      await admin().put({ ...defaults, reminderCadenceDays: 14 });
      const other = await d.installTenant({ clientKey: 'settings-other-site' });
      const res = await settingsApi(spaceToken(d.users.spaceAdmin.accountId, 'ENG', other.clientKey)).get();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ saved: false, settings: { reminderCadenceDays: 7 } });
      await admin().put(defaults);
    });

    it('lets only site admins change who may export: a space admin sees it locked and can neither set nor lift it', async () => {
      const sam = settingsApi(spaceToken(d.users.siteAdmin.accountId, 'ENG'));
      expect((await sam.get()).body.locked).toEqual([]);
      expect((await admin().get()).body.locked).toEqual(['exportRole']);
      expect((await admin().put({ ...defaults, exportRole: 'site-admins' })).status).toBe(403);
      expect((await sam.put({ ...defaults, exportRole: 'site-admins' })).status).toBe(200);
      const events = (await settingsEvents()).length;

      const lift = await admin().put({ ...defaults, exportRole: 'space-admins' });
      expect(lift.status).toBe(403);
      expect(lift.body.error.message).toMatch(/^Only site admins can change exportRole/);
      expect((await admin().get()).body.settings.exportRole).toBe('site-admins');
      expect(await settingsEvents()).toHaveLength(events);
      // The rest of the settings stay the space admins' to change.
      const other = await admin().put({ ...defaults, exportRole: 'site-admins', reminderCadenceDays: 10 });
      expect(other.body).toMatchObject({ changed: true, settings: { exportRole: 'site-admins', reminderCadenceDays: 10 } });

      const screen = (as: string) => request(t.baseUrl).get(path(d.spaceToolsUrl(as, 'ENG'))).set('Accept', 'text/html');
      const ada = (await screen(d.users.spaceAdmin.accountId)).text;
      expect(ada).toMatch(/<select id="exportRole" name="exportRole" disabled/);
      expect(ada).toContain('Locked: only site admins can change who may export evidence.');
      const samScreen = (await screen(d.users.siteAdmin.accountId)).text;
      expect(samScreen).toContain('<select id="exportRole" name="exportRole">');
      expect(samScreen).not.toContain('Locked:');
      expect((await sam.put(defaults)).status).toBe(200);
    });
  });

  describe('macros inherit the defaults; policies are a ceiling', () => {
    it('fills every parameter a macro leaves empty from the space defaults', async () => {
      const bob = d.users.bob.accountId;
      await admin().put({
        ...defaults,
        defaults: { approvers: [bob], groups: ['security'], rule: 'quorum', quorum: 2, rejections: 2, dueOffsetDays: 5, reviewDays: 30 },
      });
      const onCall = d.pages.onCall;
      await d.saveMacro(onCall.id, onCall.macroIds[0], {}, d.users.author.accountId);
      expect(d.page(onCall.id).macros[0].params).toEqual({});
      expect((await render(bob, 'onCall')).status).toBe(200);
      const wf = (await workflowApi(bob, 'onCall').get()).body;
      const due = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
      expect(wf).toMatchObject({ rule: 'quorum', quorum: 2, rejections: 2, reviewDays: 30, dueDate: due });
      expect(wf.approvers.map((a: { accountId: string }) => a.accountId)).toEqual([bob]);
      expect(wf.groups.map((g: { name: string }) => g.name)).toEqual(['security']);

      // a macro's own parameters win over the defaults
      await d.saveMacro(onCall.id, onCall.macroIds[0], { approvers: d.users.alice.accountId, rule: 'any' }, d.users.author.accountId);
      await render(bob, 'onCall');
      const own = (await workflowApi(bob, 'onCall').get()).body;
      expect(own).toMatchObject({ rule: 'any', quorum: null, rejections: 2, reviewDays: 30 });
      expect(own.approvers.map((a: { accountId: string }) => a.accountId)).toEqual([d.users.alice.accountId]);
      expect(own.groups.map((g: { name: string }) => g.name)).toEqual(['security']);
      await admin().put(defaults);
    });

    it('lets the author of the bound version approve only while the space allows self-approval', async () => {
      const alice = d.users.alice.accountId; // wrote adrQueue v2 and is one of its approvers
      await render(d.users.bob.accountId, 'adrQueue');
      const api = workflowApi(alice, 'adrQueue');
      expect((await api.get()).body.viewer).toMatchObject({ canDecide: false, reason: expect.stringMatching(/separation of duties/) });

      await admin().put({ ...defaults, allowSelfApproval: true });
      const allowed = (await api.get()).body;
      expect(allowed.viewer.canDecide).toBe(true);

      // the space forbids it again: no macro parameter can lift the ceiling
      await admin().put(defaults);
      await d.saveMacro(d.pages.adrQueue.id, d.pages.adrQueue.macroIds[0], { ...d.page(d.pages.adrQueue.id).macros[0].params, allowSelfApproval: 'true' }, alice);
      await render(alice, 'adrQueue');
      const wf = (await api.get()).body;
      const refused = await api.decide({ decision: 'approve', comment: 'mine', pageVersion: wf.boundVersion });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toMatch(/separation of duties/);
    });

    it('follows the space resetOnEdit policy when a page is edited', async () => {
      await admin().put({ ...defaults, resetOnEdit: 'never' });
      await render(d.users.alice.accountId, 'releaseChecklist');
      const before = (await workflowApi(d.users.alice.accountId, 'releaseChecklist').get()).body;
      await workflowApi(d.users.alice.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: '', pageVersion: before.boundVersion });
      const edit = await d.editPage(d.pages.releaseChecklist.id, { body: `${d.page(d.pages.releaseChecklist.id).body}<p>more</p>`, as: d.users.author.accountId });
      await render(d.users.alice.accountId, 'releaseChecklist');
      const after = (await workflowApi(d.users.alice.accountId, 'releaseChecklist').get()).body;
      expect(after.boundVersion).toBe(edit.version);
      expect(after.state).toBe(before.state);
      expect(after.approvers.find((a: { accountId: string }) => a.accountId === d.users.alice.accountId).decision).toBe('approve');
      await admin().put(defaults);
    });
  });

  describe('space dashboard', () => {
    const GEN = 'dashboard-site';
    const N = 10_000;
    const today = new Date().toISOString().slice(0, 10);
    const dayOffset = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
    const STATES = ['pending', 'pending', 'pending', 'outdated', 'expired', 'approved', 'approved', 'rejected', 'archived'];
    const OPEN = ['pending', 'outdated', 'expired'];
    type Gen = { id: string; state: string; due_date: string | null; created: string };
    const generated: Gen[] = [];
    let token: string;

    const segment = (w: Gen) => {
      if (OPEN.includes(w.state) && w.due_date !== null && w.due_date < today) return 0;
      return ['expired', 'outdated', 'pending', 'rejected', 'approved', 'archived'].indexOf(w.state) + 1;
    };
    const cmp = (a: Gen, b: Gen) => {
      const sa = segment(a);
      const sb = segment(b);
      if (sa !== sb) return sa - sb;
      const asc = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
      if (sa === 0) return asc(a.due_date!, b.due_date!) || asc(a.created, b.created) || asc(a.id, b.id);
      if (sa <= 3) return asc(a.created, b.created) || asc(a.id, b.id);
      return asc(b.created, a.created) || asc(b.id, a.id);
    };
    const list = (query: string) => request(t.baseUrl).get(`/api/spaces/ENG/workflows${query}`).set('Authorization', `JWT ${token}`);

    beforeAll(async () => {
      await d.installTenant({ clientKey: GEN });
      token = spaceToken(d.users.spaceAdmin.accountId, 'ENG', GEN);
      const base = Date.parse('2026-01-01T00:00:00.000Z');
      const rows = [];
      for (let i = 0; i < N; i++) {
        const state = STATES[i % STATES.length];
        const due = i % 4 === 0 ? dayOffset((i % 41) - 20) : null;
        // every 7th shares its creation time with the previous one: the id breaks the tie
        const created = new Date(base + (i - (i % 7 === 0 && i > 0 ? 1 : 0)) * 60_000 + 0.123).toISOString().replace('Z', '456Z');
        const id = randomUUID();
        generated.push({ id, state, due_date: due, created: created.replace(/\.(\d{3})456Z$/, '.$1456Z') });
        rows.push({
          client_key: GEN,
          id,
          page_id: String(900000 + i),
          macro_id: `m-${i}`,
          space_key: 'ENG',
          page_title: `Generated page ${i}`,
          state,
          rule: 'all',
          approvers: [d.users.alice.accountId, d.users.bob.accountId],
          groups: i % 3 === 0 ? ['security'] : [],
          due_date: due,
          bound_version: 1 + (i % 5),
          created_at: created,
          updated_at: created,
        });
      }
      for (let i = 0; i < rows.length; i += 1000) await t.db('workflows').insert(rows.slice(i, i + 1000));
      // some decisions, so that "waiting for" and "last decision" have something to say
      const decisions = generated.slice(0, 300).map((g, i) => ({
        client_key: GEN,
        workflow_id: g.id,
        approver_id: d.users.alice.accountId,
        decision: i % 10 === 0 ? 'reject' : 'approve',
        comment: '',
        page_version: 1 + (i % 5),
        round: 1,
        decided_at: new Date(base + i * 1000).toISOString(),
      }));
      await t.db('decisions').insert(decisions);
      await t.db.raw('ANALYZE workflows');
      await t.db.raw('ANALYZE decisions');
    });

    it('pages through 10,000 workflows in urgency order with an opaque cursor, each exactly once', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      let slowest = 0;
      do {
        const started = Date.now();
        const res: request.Response = await list(`?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
        slowest = Math.max(slowest, Date.now() - started);
        expect(res.status).toBe(200);
        if (pages === 0) {
          expect(res.body.counts).toMatchObject({ pending: expect.any(Number), approved: expect.any(Number) });
          expect(res.body.chain).toBeNull();
        } else {
          expect(res.body.counts).toBeUndefined();
        }
        seen.push(...res.body.items.map((i: { id: string }) => i.id));
        cursor = res.body.nextCursor;
        if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
        pages++;
      } while (cursor && pages < 200);
      expect(pages).toBe(100);
      expect(new Set(seen).size).toBe(N);
      expect(seen).toEqual([...generated].sort(cmp).map((g) => g.id));
      // a page is a few index probes, not a scan of the space (generous: a shared 2-core machine)
      expect(slowest).toBeLessThan(3000);
    });

    it('shows what a space admin needs per row: link, state, version, who is still to act, due, last decision', async () => {
      const res = await list('?limit=5');
      const first = res.body.items[0];
      expect(first.overdue).toBe(true);
      expect(first.dueDate < today).toBe(true);
      expect(first.pageUrl).toBe(`${d.tenant(GEN).baseUrl}/spaces/ENG/pages/${first.pageId}`);
      const decided = generated.slice(0, 300).find((g) => OPEN.includes(g.state))!;
      const all = await t.db('workflows').where({ client_key: GEN, id: decided.id }).first();
      const page = await list(`?state=${all.state}&limit=100`);
      let item = page.body.items.find((i: { id: string }) => i.id === decided.id);
      let cursor = page.body.nextCursor;
      while (!item && cursor) {
        const more = await list(`?state=${all.state}&limit=100&cursor=${cursor}`);
        item = more.body.items.find((i: { id: string }) => i.id === decided.id);
        cursor = more.body.nextCursor;
      }
      expect(item).toBeDefined();
      expect(item.lastDecision).toMatchObject({ accountId: d.users.alice.accountId, displayName: 'Alice Approver' });
      expect(item.waitingOn.users.map((u: { displayName: string }) => u.displayName)).toContain('Bob Approver');
      expect(item.waitingOn.users.map((u: { displayName: string }) => u.displayName)).not.toContain('Alice Approver');
    });

    it('filters by state (overdue ones of that state first) and by overdue', async () => {
      const pending = await list('?state=pending&limit=100');
      expect(pending.status).toBe(200);
      expect(pending.body.items.every((i: { state: string }) => i.state === 'pending')).toBe(true);
      const expected = generated.filter((g) => g.state === 'pending').sort(cmp).slice(0, 100).map((g) => g.id);
      expect(pending.body.items.map((i: { id: string }) => i.id)).toEqual(expected);
      const overdue = await list('?state=overdue&limit=100');
      expect(overdue.body.items.length).toBeGreaterThan(0);
      expect(overdue.body.items.every((i: { overdue: boolean }) => i.overdue)).toBe(true);
      expect(overdue.body.counts.overdue).toBe(generated.filter((g) => segment(g) === 0).length);
      const archived = await list('?state=archived&limit=3');
      expect(archived.body.items.map((i: { id: string }) => i.id)).toEqual(generated.filter((g) => g.state === 'archived').sort(cmp).slice(0, 3).map((g) => g.id));
    });

    it('refuses a cursor it did not give out, and unknown query parameters', async () => {
      for (const q of ['?cursor=bm9wZQ', '?cursor=' + Buffer.from('[9,null,"x","y"]').toString('base64url'), '?state=lost', '?sort=title']) {
        const res = await list(q);
        expect(res.status).toBe(400);
      }
    });

    it('reads each page segment through an index (EXPLAIN), never a sequential scan', async () => {
      const store = new SpaceDashboardStore(t.db);
      const plans = await store.explain(GEN, 'ENG', { today, states: null, after: null, limit: 25 });
      expect(plans.map((p) => p.segment)).toEqual(['overdue', 'expired', 'outdated', 'pending', 'rejected', 'approved', 'archived']);
      for (const p of plans) {
        expect(p.plan).not.toMatch(/Seq Scan/);
        expect(p.plan).toMatch(p.segment === 'overdue' ? /workflows_space_overdue_idx/ : /workflows_space_dashboard_idx/);
        expect(p.plan).not.toMatch(/Sort\b/);
      }
      // deep in the list, with a cursor
      const deep = await store.page(GEN, 'ENG', { today, states: null, after: null, limit: 25 });
      const after = deep.rows[deep.rows.length - 1].key;
      const deepPlans = await store.explain(GEN, 'ENG', { today, states: null, after, limit: 25 });
      expect(deepPlans.find((p) => p.segment === 'overdue')!.plan).toMatch(/Index Cond: .*ROW\(due_date, created_at, id\) >/);
    });

    it('shows the screen an empty state for a space without workflows', async () => {
      const res = await request(t.baseUrl).get('/api/spaces/SEC/workflows').set('Authorization', `JWT ${spaceToken(d.users.spaceAdmin.accountId, 'SEC', GEN)}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ items: [], nextCursor: null });
    });
  });
});
