import request from 'supertest';
import { contentListV2, contentV2, footerCommentV2, memberOfV1, permissionCheckV1, roleAssignmentsV2, spacePermissionsV2, spacesV2, spaceV2, userSearchV1, userV1, groupPickerV1 } from '../../src/confluence/confluence-schemas';
import { isSpaceAdmin } from '../../src/confluence/confluence-client';
import { ACCOUNT, approvalsMacro } from '../../src/devhost/devhost-seed';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * What a real Confluence Cloud site does that a naive stand-in would not, through the whole stack:
 * v1 content endpoints answer 410, page restrictions bind the app, blog posts have their own API and
 * webhooks, exports render the macro's static fallback. The devhost models each (see CONNECT.md).
 */
describe('against a faithful Confluence', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());
  afterEach(() => {
    d.removeEndpoints([]);
    d.setRestLatency(0);
  });

  const macro = () => macroRequests(t);
  const render: ReturnType<typeof macroRequests>['render'] = (...args) => macro().render(...args);
  const api: ReturnType<typeof macroRequests>['api'] = (...args) => macro().api(...args);
  const workflowOf = (pageKey: keyof typeof d.pages) => t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages[pageKey].id }).first();
  const v1ContentCalls = () => d.restCalls.filter((c) => /^\/rest\/api\/content(\/\d+)?(\/version\/|\?|$)/.test(c.path));

  it('approves a page end to end without calling a v1 content endpoint', async () => {
    const before = d.restCalls.length;
    expect((await render(d.users.alice.accountId, 'onCall')).status).toBe(200);
    const wf = await api(d.users.alice.accountId, 'onCall').get();
    const res = await api(d.users.alice.accountId, 'onCall').decide({ decision: 'approve', comment: 'ok', pageVersion: wf.body.boundVersion });
    expect(res.status).toBe(201);
    expect(res.body.state).toBe('approved');
    const calls = d.restCalls.slice(before);
    expect(calls.some((c) => c.path.startsWith('/api/v2/pages/'))).toBe(true);
    expect(calls.filter((c) => c.path.startsWith('/rest/api/content/') && !c.path.endsWith('/permission/check'))).toEqual([]);
    expect(calls.every((c) => c.status !== 410)).toBe(true);
  });

  it('decisions arriving together on different pages ask Confluence for the pages\' heads in one list call', async () => {
    const alice = d.users.alice.accountId;
    const pages = [1, 2, 3, 4, 5, 6].map((n) => {
      const macroId = `3f1c0d2e-0000-4000-9000-00000000b0${n}0`;
      const page = d.store.createPage('ENG', `Heads read together ${n}`, `<p>Change ${n}</p>${approvalsMacro(macroId, { approvers: alice, rule: 'all' })}`, d.users.author.accountId);
      return { id: page.id, macroId };
    });
    for (const p of pages) expect((await request(t.baseUrl).get(macro().path(d.macroUrl(alice, p.id, p.macroId)))).status).toBe(200);
    // Confluence takes a while to answer, as a real site does: the decisions' head reads overlap.
    d.setRestLatency(30);
    const before = d.restCalls.length;
    const answers = await Promise.all(
      pages.map((p) =>
        request(t.baseUrl)
          .post(`/api/pages/${p.id}/workflows/${p.macroId}/decisions`)
          .set('Authorization', `JWT ${d.contextJwt(alice, { pageId: p.id })}`)
          .send({ decision: 'approve', comment: 'ok', pageVersion: 1 }),
      ),
    );
    expect(answers.map((r) => [r.status, r.body.state])).toEqual(pages.map(() => [201, 'approved']));
    const heads = d.restCalls.slice(before).filter((c) => c.path.startsWith('/api/v2/pages'));
    const lists = heads.filter((c) => c.path.startsWith('/api/v2/pages?id='));
    // Two reads of heads out at once: the heads asked for meanwhile go in one call, ids comma-separated as the spec lists them.
    expect(lists.length).toBeGreaterThanOrEqual(1);
    expect(lists.every((c) => c.status === 200 && /^\/api\/v2\/pages\?id=\d+(,\d+)+&limit=\d+$/.test(c.path))).toBe(true);
    expect(heads.length).toBeLessThan(pages.length);
  });

  describe('a blog post', () => {
    it('renders, takes decisions, resets on an edit, and archives and restores through blog webhooks', async () => {
      const bob = d.users.bob.accountId;
      const first = await render(bob, 'securityUpdate');
      expect(first.status).toBe(200);
      expect(first.text).toContain('Bob Approver');
      expect(await workflowOf('securityUpdate')).toMatchObject({ content_type: 'blogpost', space_key: 'SEC', bound_version: 1 });
      expect(d.restCalls.some((c) => c.path.startsWith(`/api/v2/blogposts/${d.pages.securityUpdate.id}`) && c.status === 200)).toBe(true);

      const approved = await api(bob, 'securityUpdate').decide({ decision: 'approve', comment: 'encrypt all the things', pageVersion: 1 });
      expect(approved.status).toBe(201);
      expect(approved.body.state).toBe('approved');

      // An edit sends blog_updated (not page_updated); the workflow needs a new round.
      const edit = await d.editPage(d.pages.securityUpdate.id, { body: `${d.page(d.pages.securityUpdate.id).body}<p>Also USB keys.</p>`, as: d.users.author.accountId });
      expect(edit.webhook).toMatchObject({ status: 204, delivery: { event: 'blog_updated', body: { blog: { idAsString: d.pages.securityUpdate.id, contentType: 'blogpost' } } } });
      await t.pageEvents.settled();
      expect(await workflowOf('securityUpdate')).toMatchObject({ state: 'outdated', bound_version: 2 });

      expect((await d.trashPage(d.pages.securityUpdate.id))?.delivery.event).toBe('blog_trashed');
      await t.pageEvents.settled();
      expect((await workflowOf('securityUpdate')).state).toBe('archived');
      expect((await d.restorePage(d.pages.securityUpdate.id))?.delivery.event).toBe('blog_restored');
      await t.pageEvents.settled();
      expect((await workflowOf('securityUpdate')).state).toBe('outdated');
      expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
    });

    it('gets its reminder as a v2 footer comment on the blog post', async () => {
      expect(await t.scheduler.runDue('reminders', new Date())).toMatchObject({ ran: true });
      const comments = d.comments(d.pages.securityUpdate.id);
      expect(comments.length).toBeGreaterThan(0);
      expect(comments[comments.length - 1].body).toContain('Approval reminder');
      expect(d.restCalls.some((c) => c.path === '/api/v2/footer-comments' && c.status === 201)).toBe(true);
    });
  });

  describe('page restrictions bind the app', () => {
    it('a page restricted without the app: the reader is told what an admin can do, never "no permission"', async () => {
      const alice = d.users.alice.accountId;
      const res = await render(alice, 'boardMinutes');
      expect(res.status).toBe(409);
      expect(res.text).toContain('Attest cannot read this page');
      expect(res.text).toContain('Restrictions');
      expect(res.text).not.toContain('do not have permission');
      expect(await workflowOf('boardMinutes')).toBeUndefined();

      const viaApi = await api(alice, 'boardMinutes').get();
      expect(viaApi.status).toBe(409);
      expect(viaApi.body.error.message).toContain('Attest cannot read this page');
    });

    it('the dashboard names a page the app lost, and clears it when the app is let in again', async () => {
      expect((await render(d.users.alice.accountId, 'postmortem')).status).toBe(200);
      // An admin restricts the page again, this time without the app (Paul's permission is not cached yet).
      d.setRestriction(d.pages.postmortem.id, [d.users.author.accountId, d.users.alice.accountId, d.users.spaceAdmin.accountId]);
      const lost = await api(d.users.author.accountId, 'postmortem').get();
      expect(lost.status).toBe(409);
      expect((await workflowOf('postmortem')).app_unreadable_since).not.toBeNull();

      const token = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' });
      const dash = await request(t.baseUrl).get('/api/spaces/ENG/workflows').set('Authorization', `JWT ${token}`);
      expect(dash.status).toBe(200);
      const item = dash.body.items.find((i: { pageId: string }) => i.pageId === d.pages.postmortem.id);
      expect(item.appCannotReadSince).toEqual(expect.any(String));

      d.setRestriction(d.pages.postmortem.id, [d.users.author.accountId, d.users.alice.accountId, d.users.spaceAdmin.accountId, ACCOUNT.app]);
      // Permission answers are cached for up to a minute: a fresh reader's render finds the app let in.
      expect((await render(d.users.spaceAdmin.accountId, 'postmortem')).status).toBe(200);
      expect((await workflowOf('postmortem')).app_unreadable_since).toBeNull();
    });

    it('a viewer without read sees nothing of the workflow, on a page the app can read', async () => {
      const nora = d.users.nora.accountId;
      const res = await render(nora, 'postmortem');
      expect(res.status).toBe(403);
      expect(res.text).not.toContain('Alice Approver');
      const viaApi = await api(nora, 'postmortem').get();
      expect(viaApi.status).toBe(403);
      expect(JSON.stringify(viaApi.body)).not.toContain(d.users.alice.accountId);
    });
  });

  it('a removed endpoint (410 Gone) reaches a user as a plain 502, never a 500', async () => {
    d.removeEndpoints(['/api/v2/pages/', '/rest/api/content/']);
    const res = await render(d.users.alice.accountId, 'vendorRisk');
    expect(res.status).toBe(502);
    expect(res.text).toContain('410 Gone');
    const viaApi = await api(d.users.secMember.accountId, 'onCall').get();
    expect(viaApi.status).toBe(502);
    expect(viaApi.body.error.message).toMatch(/no longer offers POST \/rest\/api\/content\/\d+\/permission\/check \(410 Gone\)/);
    expect(v1ContentCalls()).toEqual([]);
  });

  it('space admins through a role principal, with permissions paged two at a time', async () => {
    expect(await isSpaceAdmin(t.confluence, d.clientKey, 'ENG', d.users.siteAdmin.accountId)).toBe(true);
    expect(await isSpaceAdmin(t.confluence, d.clientKey, 'ENG', d.users.alice.accountId)).toBe(false);
    // Bob's three groups arrive two at a time; the client follows the server's paging.
    expect((await t.confluence.groupsOf(d.clientKey, d.users.bob.accountId)).sort()).toEqual(['confluence-users', 'engineering', 'release-managers']);
  });

  it('an export (PDF/Word) shows the approval as static content: state, version, approvers, decisions and dates', async () => {
    const out = await d.exportPage(d.pages.onCall.id, d.users.author.accountId);
    expect(out.macros).toHaveLength(1);
    const [macro] = out.macros;
    expect(macro.status).toBe(200);
    expect(macro.html).toContain('<strong>Approved</strong> on ');
    expect(macro.html).toMatch(/Approvals are for version 2/);
    expect(macro.html).toContain('Alice Approver');
    expect(macro.html).toMatch(/<td>Approved<\/td><td>\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC<\/td><td>ok<\/td>/);
    expect(macro.html).toContain('Bob Approver');
    // A fragment of storage format: no page, no script.
    expect(macro.html).not.toMatch(/<html|<script/i);
    // The devhost's export page puts that fragment where the iframe would be.
    const page = await fetch(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${d.pages.onCall.id}/export?as=${encodeURIComponent(d.users.author.accountId)}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Approvals are for version 2');
    // Someone who cannot read the page gets nothing of it, even in an export request.
    const nora = await d.exportPage(d.pages.postmortem.id, d.users.nora.accountId);
    expect(nora.macros[0].html).toContain('You do not have permission to view this page.');
    expect(nora.macros[0].html).not.toContain('Alice');
  });

  it("the devhost's answers fit the schemas the client parses them with", async () => {
    const via = async (method: 'get' | 'post', url: string, json?: unknown) => {
      const http = t.addon.httpClient({ clientKey: d.clientKey }) as unknown as Record<string, (o: object, cb: (e: unknown, r: { statusCode: number }, b: unknown) => void) => void>;
      return new Promise<{ status: number; body: unknown }>((resolve, reject) =>
        http[method]({ url, json: json ?? true, ...(json ? { body: json } : {}) }, (e, r, b) => (e ? reject(e) : resolve({ status: r.statusCode, body: b }))),
      );
    };
    const ok = async (schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, method: 'get' | 'post', url: string, json?: unknown) => {
      const res = await via(method, url, json);
      expect(res.status).toBeLessThan(300);
      const parsed = schema.safeParse(res.body);
      if (!parsed.success) throw new Error(`${method.toUpperCase()} ${url}: ${JSON.stringify(parsed.error)}`);
    };
    const alice = encodeURIComponent(d.users.alice.accountId);
    await ok(contentV2, 'get', `/api/v2/pages/${d.pages.releaseChecklist.id}?body-format=storage&version=2`);
    await ok(contentV2, 'get', `/api/v2/blogposts/${d.pages.securityUpdate.id}?body-format=storage`);
    await ok(contentListV2, 'get', `/api/v2/pages?id=${d.pages.releaseChecklist.id},${d.pages.onCall.id}&limit=2`);
    await ok(contentListV2, 'get', `/api/v2/blogposts?id=${d.pages.securityUpdate.id}&limit=1`);
    await ok(spaceV2, 'get', `/api/v2/spaces/${d.spaces.ENG.id}`);
    await ok(spacesV2, 'get', '/api/v2/spaces?keys=ENG');
    await ok(spacePermissionsV2, 'get', `/api/v2/spaces/${d.spaces.ENG.id}/permissions?limit=250`);
    await ok(roleAssignmentsV2, 'get', `/api/v2/spaces/${d.spaces.ENG.id}/role-assignments?limit=250`);
    await ok(footerCommentV2, 'post', '/api/v2/footer-comments', { pageId: d.pages.releaseChecklist.id, body: { representation: 'storage', value: '<p>schema check</p>' } });
    await ok(permissionCheckV1, 'post', `/rest/api/content/${d.pages.releaseChecklist.id}/permission/check`, { subject: { type: 'user', identifier: d.users.alice.accountId }, operation: 'read' });
    await ok(memberOfV1, 'get', `/rest/api/user/memberof?accountId=${alice}&start=0&limit=200`);
    await ok(userV1, 'get', `/rest/api/user?accountId=${alice}&expand=operations`);
    await ok(userSearchV1, 'get', `/rest/api/search/user?cql=${encodeURIComponent('user.fullname~"ali"')}&limit=20`);
    await ok(groupPickerV1, 'get', '/rest/api/group/picker?query=sec&limit=20');
  });
});
