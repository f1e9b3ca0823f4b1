import { createQueryStringHash, decodeSymmetric, encodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import { startTestApp, TestApp } from '../helpers/test-app';
import type { Devhost } from '../../src/devhost/devhost';
import { ENG_ADMIN_ROLE } from '../../src/devhost/devhost-seed';

let t: TestApp;
let dh: Devhost;

beforeAll(async () => {
  t = await startTestApp();
  dh = t.devhost!;
});
afterAll(async () => {
  await t?.close();
});

const unescapeHtml = (s: string) => s.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=').replace(/&quot;/g, '"').replace(/&#x27;/g, "'");
const iframeSrcs = (html: string) => [...html.matchAll(/<iframe[^>]*\ssrc="([^"]+)"/g)].map((m) => unescapeHtml(m[1]));

/** A call to the devhost's REST API signed the way ACE signs outbound requests. */
function aceJwt(method: string, relPath: string, secret: string, clientKey = dh.clientKey): string {
  const now = Math.floor(Date.now() / 1000);
  return encodeSymmetric(
    { iss: t.addon.key, aud: [clientKey], iat: now, exp: now + 180, qsh: createQueryStringHash(fromMethodAndUrl(method, relPath)) },
    secret,
    SymmetricAlgorithm.HS256,
  );
}

async function rest(method: string, relPath: string, opts: { jwt?: string; body?: unknown; base?: string } = {}) {
  const res = await fetch(`${opts.base ?? dh.baseUrl}${relPath}`, {
    method,
    headers: {
      ...(opts.jwt ? { Authorization: `JWT ${opts.jwt}` } : {}),
      ...(opts.body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** addon.httpClient uses the `request` callback style; this wraps it. */
function viaAce(method: 'get' | 'post', opts: Record<string, unknown>, clientKey = dh.clientKey): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const client = t.addon.httpClient({ clientKey } as never) as any;
    client[method]({ ...opts, json: opts.json ?? true }, (err: unknown, res: { statusCode: number }, body: unknown) =>
      err ? reject(err) : resolve({ status: res.statusCode, body }),
    );
  });
}

describe('install and keys', () => {
  it('installs with a signed RS256 install that the add-on accepts', async () => {
    const row = await t.db('tenants').where({ client_key: dh.clientKey }).first();
    expect(row).toBeDefined();
    expect(row.state).toBe('installed');
    expect(row.base_url).toBe(`${t.baseUrl}/devhost/wiki`);
    expect(dh.hosts(dh.baseUrl)).toBe(true);
    expect(dh.hosts('https://example.atlassian.net/wiki')).toBe(false);
  });

  it('serves its public key by kid and an empty 404 for any other kid', async () => {
    const good = await fetch(`${t.baseUrl}/devhost/connect-keys/${dh.store.keys.kid}`);
    expect(good.status).toBe(200);
    expect(await good.text()).toContain('BEGIN PUBLIC KEY');
    const bad = await fetch(`${t.baseUrl}/devhost/connect-keys/nope`);
    expect(bad.status).toBe(404);
    expect(await bad.text()).toBe('');
  });

  it('a reinstall replaces the shared secret and keeps the clientKey', async () => {
    const before = dh.tenant();
    await dh.install();
    const after = dh.tenant();
    expect(after.clientKey).toBe(before.clientKey);
    expect(after.sharedSecret).not.toBe(before.sharedSecret);
    const res = await fetch(dh.macroUrl(dh.users.alice.accountId, dh.pages.releaseChecklist.id));
    expect(res.status).toBe(200);
  });

  it('refuses an install signed by a key the add-on cannot fetch', async () => {
    const res = await fetch(`${t.baseUrl}/installed`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `JWT ${aceJwt('POST', '/installed', 'x')}` },
      body: JSON.stringify({ key: t.addon.key, clientKey: 'evil', sharedSecret: 's', baseUrl: dh.baseUrl }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await t.db('tenants').where({ client_key: 'evil' }).first()).toBeUndefined();
  });
});

describe('pages in a browser', () => {
  it('lists spaces and pages', async () => {
    const res = await fetch(`${t.baseUrl}/devhost`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Engineering');
    expect(html).toContain('Security');
    expect(html).toContain(`/devhost/wiki/spaces/ENG/pages/${dh.pages.releaseChecklist.id}`);
    expect(html).toContain('Release checklist');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
  });

  it('renders a page whose macro iframe is signed as the viewer and loads the add-on /macro', async () => {
    const alice = dh.users.alice.accountId;
    const res = await fetch(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${dh.pages.releaseChecklist.id}?as=${encodeURIComponent(alice)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('Release checklist');
    const srcs = iframeSrcs(html);
    expect(srcs).toHaveLength(1);
    const src = new URL(srcs[0]);
    expect(src.pathname).toBe('/macro');
    expect(src.searchParams.get('pageId')).toBe(dh.pages.releaseChecklist.id);
    expect(src.searchParams.get('pageVersion')).toBe('3');
    expect(src.searchParams.get('macroId')).toBe(dh.pages.releaseChecklist.macroIds[0]);
    expect(src.searchParams.get('approvers')).toBe(`${dh.users.alice.accountId},${dh.users.bob.accountId}`);
    expect(src.searchParams.get('rule')).toBe('all');
    expect(src.searchParams.get('groups')).toBe('');
    const claims = decodeSymmetric(src.searchParams.get('jwt')!, dh.tenant().sharedSecret, SymmetricAlgorithm.HS256);
    expect(claims).toMatchObject({ iss: dh.clientKey, sub: alice, context: { user: { accountId: alice } } });
    expect(claims.exp - claims.iat).toBe(180);

    const frame = await fetch(src);
    expect(frame.status).toBe(200);
    expect(await frame.text()).toContain(`${t.baseUrl}/devhost/all.js`);
  });

  it('an iframe URL with a changed parameter is refused by the add-on (qsh)', async () => {
    const src = new URL(dh.macroUrl(dh.users.nora.accountId, dh.pages.releaseChecklist.id));
    src.searchParams.set('approvers', dh.users.nora.accountId);
    expect((await fetch(src)).status).toBe(401);
  });

  it('a user who cannot read the page sees no iframe', async () => {
    const res = await fetch(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${dh.pages.postmortem.id}?as=${encodeURIComponent(dh.users.nora.accountId)}`);
    expect(res.status).toBe(403);
    const html = await res.text();
    expect(html).toContain('You do not have permission');
    expect(iframeSrcs(html)).toHaveLength(0);
    const ok = await fetch(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${dh.pages.postmortem.id}?as=${encodeURIComponent(dh.users.alice.accountId)}`);
    expect(iframeSrcs(await ok.text())).toHaveLength(1);
  });

  it('embeds space tools, my approvals and the macro editor with signed module URLs', async () => {
    const ada = encodeURIComponent(dh.users.spaceAdmin.accountId);
    for (const [page, path] of [
      [`/devhost/wiki/spaces/ENG/settings/attest?as=${ada}`, '/space-settings'],
      [`/devhost/wiki/plugins/my-approvals?as=${ada}`, '/my-approvals'],
      [`/devhost/wiki/spaces/SEC/pages/${dh.pages.vendorRisk.id}/edit-macro/${dh.pages.vendorRisk.macroIds[1]}?as=${ada}`, '/macro-editor'],
    ]) {
      const res = await fetch(`${t.baseUrl}${page}`);
      expect(res.status).toBe(200);
      const [src] = iframeSrcs(await res.text());
      expect(new URL(src).pathname).toBe(path);
      const claims = decodeSymmetric(new URL(src).searchParams.get('jwt')!, dh.tenant().sharedSecret, SymmetricAlgorithm.HS256);
      expect(claims.sub).toBe(dh.users.spaceAdmin.accountId);
    }
  });

  it('serves all.js and the host script as external files', async () => {
    const all = await fetch(dh.hostScriptUrl);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toContain('javascript');
    expect(await all.text()).toContain('getMacroData');
    expect((await fetch(`${t.baseUrl}/devhost/static/host.js`)).status).toBe(200);
  });

  it('signs a context token server side for the iframe (qsh "context-qsh")', async () => {
    const alice = dh.users.alice.accountId;
    const res = await fetch(`${t.baseUrl}/devhost/api/context-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ as: alice, pageId: dh.pages.onCall.id, pageVersion: '2', spaceKey: 'ENG' }),
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const claims = decodeSymmetric(token, dh.tenant().sharedSecret, SymmetricAlgorithm.HS256);
    expect(claims).toMatchObject({
      iss: dh.clientKey,
      sub: alice,
      qsh: 'context-qsh',
      context: { user: { accountId: alice }, confluence: { content: { id: dh.pages.onCall.id, version: '2' }, space: { key: 'ENG' } } },
    });
    const nora = await fetch(`${t.baseUrl}/devhost/api/context-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ as: dh.users.nora.accountId, pageId: dh.pages.postmortem.id }),
    });
    expect(nora.status).toBe(403);
  });
});

describe('v2 list of pages by id (GET /api/v2/pages?id=…)', () => {
  it('answers what the app may see, current and archived by default, in pages of `limit` with a cursor', async () => {
    const made = [1, 2, 3].map((n) => dh.store.createPage('ENG', `Bulk read ${n}`, '<p>x</p>', dh.users.author.accountId).id);
    const minutes = dh.pages.boardMinutes.id; // restricted without the app
    const blog = dh.pages.securityUpdate.id; // a blog post, not a page
    const trashed = dh.store.createPage('ENG', 'Bulk read trashed', '<p>x</p>', dh.users.author.accountId).id;
    dh.store.setStatus(trashed, 'trashed');
    const ids = [...made, minutes, blog, trashed, '999999', made[0]].join(',');
    const all = await viaAce('get', { url: `/api/v2/pages?id=${ids}&limit=250` });
    expect(all.status).toBe(200);
    expect(all.body.results.map((r: { id: string }) => r.id)).toEqual(made);
    expect(all.body.results[0]).toMatchObject({ id: made[0], status: 'current', title: 'Bulk read 1', spaceId: dh.spaces.ENG.id, version: { number: 1 } });
    expect(all.body.results[0].body).toEqual({});
    expect(all.body._links.next).toBeUndefined();
    expect((await viaAce('get', { url: `/api/v2/pages?id=${trashed}&status=trashed` })).body.results.map((r: { id: string }) => r.id)).toEqual([trashed]);
    expect((await viaAce('get', { url: `/api/v2/blogposts?id=${blog},${made[0]}` })).body.results.map((r: { id: string }) => r.id)).toEqual([blog]);

    // Two at a time: the next page through the cursor in `_links.next` (site-relative, with /wiki) and the Link header.
    const first = await viaAce('get', { url: `/api/v2/pages?id=${made.join(',')}&limit=2` });
    expect(first.body.results).toHaveLength(2);
    const next = first.body._links.next as string;
    expect(next).toMatch(/\/wiki\/api\/v2\/pages\?.*cursor=/);
    const second = await viaAce('get', { url: next.slice(next.indexOf('/api/v2/')) });
    expect(second.body.results.map((r: { id: string }) => r.id)).toEqual([made[2]]);
    expect(second.body._links.next).toBeUndefined();

    // The spec's bounds: at most 250 ids and a limit from 1 to 250; ids are numbers.
    const many = Array.from({ length: 251 }, (_, i) => String(100000 + i)).join(',');
    expect((await viaAce('get', { url: `/api/v2/pages?id=${many}` })).status).toBe(400);
    expect((await viaAce('get', { url: `/api/v2/pages?id=${made[0]}&limit=251` })).status).toBe(400);
    expect((await viaAce('get', { url: '/api/v2/pages?id=abc' })).status).toBe(400);
  });
});

describe('REST API verifies the add-on JWT', () => {
  const path = () => `/api/v2/pages/${dh.pages.releaseChecklist.id}?body-format=storage`;

  it('refuses a call with no JWT, a wrong secret, a tampered qsh or an expired token', async () => {
    expect((await rest('GET', path())).status).toBe(401);
    const wrong = await rest('GET', path(), { jwt: aceJwt('GET', path(), 'not-the-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ errors: [expect.objectContaining({ status: 401 })] });
    const otherPath = `/api/v2/pages/${dh.pages.postmortem.id}?body-format=storage`;
    expect((await rest('GET', path(), { jwt: aceJwt('GET', otherPath, dh.tenant().sharedSecret) })).status).toBe(401);
    const expired = encodeSymmetric(
      { iss: t.addon.key, aud: [dh.clientKey], iat: 1, exp: 2, qsh: createQueryStringHash(fromMethodAndUrl('GET', path())) },
      dh.tenant().sharedSecret,
      SymmetricAlgorithm.HS256,
    );
    expect((await rest('GET', path(), { jwt: expired })).status).toBe(401);
    expect(dh.restCalls.slice(-4).every((c) => c.clientKey === null && c.status === 401)).toBe(true);
  });

  it('answers a correctly signed call in Confluence shape', async () => {
    const res = await rest('GET', path(), { jwt: aceJwt('GET', path(), dh.tenant().sharedSecret) });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      id: dh.pages.releaseChecklist.id,
      status: 'current',
      title: 'Release checklist',
      spaceId: dh.spaces.ENG.id,
      authorId: dh.users.author.accountId,
      version: { number: 3, authorId: dh.users.author.accountId },
      body: { storage: { representation: 'storage' } },
    });
    expect(res.json.body.storage.value).toContain('<ac:structured-macro ac:name="attest-approvals"');
  });

  it('works through ACE httpClient, for older versions and v2 too', async () => {
    const id = dh.pages.releaseChecklist.id;
    const v1 = await viaAce('get', { url: `/api/v2/pages/${id}?body-format=storage&version=1` });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ status: 'historical', version: { number: 1 } });
    expect(v1.body.body.storage.value).not.toContain('ac:structured-macro');
    expect(dh.restCalls[dh.restCalls.length - 1]).toMatchObject({ clientKey: dh.clientKey, status: 200 });

    // Atlassian removed the v1 content endpoints: they answer 410 Gone with Confluence's body.
    for (const url of [`/rest/api/content/${id}?expand=version`, `/rest/api/content/${id}/version/2?expand=content.body.storage`]) {
      const gone = await viaAce('get', { url });
      expect(gone.status).toBe(410);
      expect(gone.body).toMatchObject({ statusCode: 410, reason: 'Gone', message: expect.stringContaining('This deprecated endpoint has been removed') });
    }

    const v2 = await viaAce('get', { url: `/api/v2/pages/${id}?body-format=storage&version=2` });
    expect(v2.body).toMatchObject({ id, spaceId: dh.spaces.ENG.id, authorId: dh.users.author.accountId, version: { number: 2, authorId: dh.users.author.accountId } });
    expect(v2.body.body.storage.value).toContain('ac:structured-macro');

    const blog = await viaAce('get', { url: `/api/v2/blogposts/${dh.pages.securityUpdate.id}?body-format=storage` });
    expect(blog.body).toMatchObject({ id: dh.pages.securityUpdate.id, spaceId: dh.spaces.SEC.id, version: { number: 1 } });
    // A blog post is not a page, and a page is not a blog post.
    expect((await viaAce('get', { url: `/api/v2/pages/${dh.pages.securityUpdate.id}` })).status).toBe(404);
    expect((await viaAce('get', { url: `/api/v2/blogposts/${id}` })).status).toBe(404);

    const missing = await viaAce('get', { url: '/api/v2/pages/999999?body-format=storage' });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ errors: [expect.objectContaining({ status: 404 })] });
  });

  it('checks page permissions per user, honouring restrictions', async () => {
    const check = (accountId: string, operation = 'read') =>
      viaAce('post', { url: `/rest/api/content/${dh.pages.postmortem.id}/permission/check`, json: { subject: { type: 'user', identifier: accountId }, operation } });
    const nora = await check(dh.users.nora.accountId);
    expect(nora.status).toBe(200);
    expect(nora.body.hasPermission).toBe(false);
    expect(nora.body.errors.length).toBeGreaterThan(0);
    expect((await check(dh.users.alice.accountId)).body).toMatchObject({ hasPermission: true, errors: [] });
    expect((await check(dh.users.alice.accountId, 'update')).body.hasPermission).toBe(true);
    // The spec allows only read, update and delete.
    expect((await check(dh.users.alice.accountId, 'administer')).status).toBe(400);
    // The app is among the postmortem's allowed users, so it reads the page.
    expect((await viaAce('get', { url: `/api/v2/pages/${dh.pages.postmortem.id}?body-format=storage` })).status).toBe(200);
    // Board minutes are restricted without the app: Confluence hides them from it, even the permission check.
    const minutes = dh.pages.boardMinutes.id;
    expect((await viaAce('get', { url: `/api/v2/pages/${minutes}?body-format=storage` })).status).toBe(404);
    const hidden = await viaAce('post', { url: `/rest/api/content/${minutes}/permission/check`, json: { subject: { type: 'user', identifier: dh.users.alice.accountId }, operation: 'read' } });
    expect(hidden.status).toBe(404);
    // Groups are named by id, not by name.
    const byName = await viaAce('post', { url: `/rest/api/content/${dh.pages.onCall.id}/permission/check`, json: { subject: { type: 'group', identifier: 'security' }, operation: 'read' } });
    expect(byName.status).toBe(400);
  });

  it('answers users, groups, spaces and pickers', async () => {
    const groups = await viaAce('get', { url: `/rest/api/user/memberof?accountId=${encodeURIComponent(dh.users.secMember.accountId)}&start=0&limit=200` });
    expect(groups.body.results.map((g: { name: string }) => g.name).sort()).toEqual(['confluence-users', 'security']);
    expect(groups.body.results[0]).toMatchObject({ type: 'group' });
    // memberof caps its page size below what was asked: Bob's three groups take two pages.
    const bob = await viaAce('get', { url: `/rest/api/user/memberof?accountId=${encodeURIComponent(dh.users.bob.accountId)}&start=0&limit=200` });
    expect(bob.body).toMatchObject({ size: 2, limit: 2, _links: { next: expect.stringContaining('start=2') } });

    const admin = await viaAce('get', { url: `/rest/api/user?accountId=${encodeURIComponent(dh.users.siteAdmin.accountId)}&expand=operations` });
    expect(admin.body.operations).toContainEqual({ operation: 'administer', targetType: 'application' });
    const plain = await viaAce('get', { url: `/rest/api/user?accountId=${encodeURIComponent(dh.users.alice.accountId)}&expand=operations` });
    expect(plain.body.operations).not.toContainEqual({ operation: 'administer', targetType: 'application' });

    const spaces = await viaAce('get', { url: '/api/v2/spaces?keys=SEC' });
    expect(spaces.body.results).toEqual([expect.objectContaining({ id: dh.spaces.SEC.id, key: 'SEC' })]);

    // Space permissions come two at a time; follow _links.next like a client must.
    const seen: Array<{ principal: { type: string; id: string }; operation: { key: string } }> = [];
    let next: string | undefined = `/api/v2/spaces/${dh.spaces.ENG.id}/permissions?limit=250`;
    let pages = 0;
    while (next) {
      const res = await viaAce('get', { url: next });
      expect(res.status).toBe(200);
      seen.push(...res.body.results);
      pages++;
      const link: string | undefined = res.body._links.next;
      // _links.next is site-relative and includes the context path, as in Confluence.
      next = link ? link.slice(new URL(dh.baseUrl).pathname.length) : undefined;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seen.filter((p) => p.operation.key === 'administer').map((p) => p.principal)).toEqual([
      { type: 'user', id: dh.users.spaceAdmin.accountId },
      { type: 'role', id: ENG_ADMIN_ROLE },
    ]);
    const holders = await viaAce('get', { url: `/api/v2/spaces/${dh.spaces.ENG.id}/role-assignments?role-id=${ENG_ADMIN_ROLE}` });
    expect(holders.body.results).toEqual([{ roleId: ENG_ADMIN_ROLE, principal: { principalType: 'USER', principalId: dh.users.siteAdmin.accountId } }]);

    const people = await viaAce('get', { url: `/rest/api/search/user?cql=${encodeURIComponent('user.fullname~"ali"')}` });
    expect(people.body.results.map((r: { user: { displayName: string } }) => r.user.displayName)).toEqual(['Alice Approver']);
    expect(people.body.results[0].user.accountId).toBe(dh.users.alice.accountId);
    // Name prefixes, as Confluence matches them: "lice" is inside "Alice" but starts no word.
    const inside = await viaAce('get', { url: `/rest/api/search/user?cql=${encodeURIComponent('user.fullname~"lice"')}` });
    expect(inside.body.results).toEqual([]);

    const picker = await viaAce('get', { url: '/rest/api/group/picker?query=sec' });
    expect(picker.body.results).toEqual([expect.objectContaining({ type: 'group', name: 'security' })]);
  });

  it('creates footer comments that show on the page (v2; the v1 content POST is gone)', async () => {
    const v1 = await viaAce('post', {
      url: '/rest/api/content',
      json: { type: 'comment', container: { id: dh.pages.onCall.id, type: 'page' }, body: { storage: { value: '<p>x</p>', representation: 'storage' } } },
    });
    expect(v1.status).toBe(410);
    const res = await viaAce('post', { url: '/api/v2/footer-comments', json: { pageId: dh.pages.onCall.id, body: { representation: 'storage', value: '<p>Approved by Alice</p>' } } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ pageId: dh.pages.onCall.id, body: { storage: { value: '<p>Approved by Alice</p>' } } });
    expect(dh.comments(dh.pages.onCall.id).map((c) => c.body)).toEqual(['<p>Approved by Alice</p>']);
    const html = await (await fetch(`${t.baseUrl}/devhost/wiki/spaces/ENG/pages/${dh.pages.onCall.id}`)).text();
    expect(html).toContain('Approved by Alice');
  });
});

describe('webhooks', () => {
  it('an edit creates a version and sends page_updated, which the add-on accepts', async () => {
    // What the add-on accepted is what its inbox stored (its webhook routes answer 204 only after storing).
    const stored = () => t.db('page_events').where({ client_key: dh.clientKey, event: 'page_updated', page_id: dh.pages.adrQueue.id, page_version: 3 });
    const { version, webhook } = await dh.editPage(dh.pages.adrQueue.id, { body: '<p>Rewritten</p>', as: dh.users.bob.accountId });
    expect(version).toBe(3);
    expect(webhook?.status).toBe(204);
    const rows = await stored();
    expect(rows).toHaveLength(1);
    expect(rows[0].payload).toMatchObject({
      page: { id: dh.pages.adrQueue.id, idAsString: dh.pages.adrQueue.id, spaceKey: 'ENG', spaceId: Number(dh.spaces.ENG.id), version: 3, lastModifierAccountId: dh.users.bob.accountId, contentType: 'page' },
      userAccountId: dh.users.bob.accountId,
      accountType: 'atlassian',
      updateTrigger: 'edit_page',
      suppressNotifications: false,
    });
    // Confluence may deliver twice: a replay is accepted again (and stored once).
    expect((await dh.sendWebhook(webhook!.delivery)).status).toBe(204);
    expect(await stored()).toHaveLength(1);
  });

  it('the edit form and saveMacro create versions by the viewer', async () => {
    const id = dh.pages.accessReview.id;
    const before = dh.page(id).version;
    const form = new URLSearchParams({ as: dh.users.secMember.accountId, title: 'Quarterly access review (Q1)', body: dh.page(id).body });
    const res = await fetch(`${t.baseUrl}/devhost/wiki/spaces/SEC/pages/${id}/edit`, { method: 'POST', body: form, redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(dh.page(id)).toMatchObject({ version: before + 1, title: 'Quarterly access review (Q1)', authorId: dh.users.secMember.accountId });

    const macroId = dh.pages.accessReview.macroIds[0];
    const save = await fetch(`${t.baseUrl}/devhost/api/pages/${id}/macros/${macroId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ as: dh.users.spaceAdmin.accountId, params: { groups: 'security', rule: 'quorum', quorum: '1' } }),
    });
    expect(save.status).toBe(200);
    expect(await save.json()).toMatchObject({ version: before + 2, webhookStatus: 204 });
    expect(dh.page(id).macros[0]).toEqual({ name: 'attest-approvals', macroId, params: { groups: 'security', rule: 'quorum', quorum: '1' } });
    expect(new URL(dh.macroUrl(dh.users.secMember.accountId, id)).searchParams.get('rule')).toBe('quorum');
  });

  it('trash, restore and remove send their webhooks', async () => {
    const id = dh.pages.vendorRisk.id;
    expect((await dh.trashPage(id))?.status).toBe(204);
    expect(dh.page(id).status).toBe('trashed');
    expect((await viaAce('get', { url: `/api/v2/pages/${id}` })).status).toBe(404);
    expect((await viaAce('get', { url: `/api/v2/pages/${id}?status=trashed` })).body.status).toBe('trashed');
    expect((await dh.restorePage(id))?.status).toBe(204);
    expect(dh.page(id).status).toBe('current');
    const removed = await dh.removePage(id);
    expect(removed?.status).toBe(204);
    expect(removed?.delivery).toMatchObject({ event: 'page_removed', body: { page: { idAsString: id } } });
    expect((await viaAce('get', { url: `/api/v2/pages/${id}?status=any` })).status).toBe(404);
  });
});

describe('tenants', () => {
  it('a second tenant has its own secret and base URL and cannot use the first one', async () => {
    const second = await dh.installTenant({ clientKey: 'devhost-second-tenant' });
    expect(second.clientKey).not.toBe(dh.clientKey);
    expect(second.sharedSecret).not.toBe(dh.tenant().sharedSecret);
    expect(await t.db('tenants').where({ client_key: second.clientKey }).first()).toBeDefined();

    const rel = `/api/v2/pages/${dh.pages.onCall.id}`;
    const own = await rest('GET', rel, { base: second.baseUrl, jwt: aceJwt('GET', rel, second.sharedSecret, second.clientKey) });
    expect(own.status).toBe(200);
    const viaAceClient = await viaAce('get', { url: rel }, second.clientKey);
    expect(viaAceClient.status).toBe(200);
    const crossSite = await rest('GET', rel, { jwt: aceJwt('GET', rel, second.sharedSecret, second.clientKey) });
    expect(crossSite.status).toBe(401);

    const url = dh.macroUrl(dh.users.alice.accountId, dh.pages.onCall.id, undefined, { clientKey: second.clientKey });
    expect((await fetch(url)).status).toBe(200);
    // A token signed with the second tenant's secret but naming the first tenant is refused.
    const forged = new URL(dh.macroUrl(dh.users.alice.accountId, dh.pages.onCall.id));
    const claims = decodeSymmetric(forged.searchParams.get('jwt')!, '', SymmetricAlgorithm.HS256, true);
    forged.searchParams.set('jwt', encodeSymmetric(claims, second.sharedSecret, SymmetricAlgorithm.HS256));
    expect((await fetch(forged)).status).toBe(401);
  });
});

describe('personal data reporting emulation', () => {
  const url = () => `${t.baseUrl}/devhost/app/report-accounts`;
  const signed = (secret?: string) => {
    const now = Math.floor(Date.now() / 1000);
    return encodeSymmetric(
      {
        iss: t.addon.descriptor.key,
        aud: [dh.clientKey],
        iat: now,
        exp: now + 60,
        qsh: createQueryStringHash(fromMethodAndUrl('POST', url()), false, `${t.baseUrl}/devhost`),
      },
      secret ?? dh.tenant().sharedSecret,
      SymmetricAlgorithm.HS256,
    );
  };
  const post = (ids: string[], token: string | null = signed()) =>
    fetch(url(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `JWT ${token}` } : {}) },
      body: JSON.stringify({ accounts: ids.map((accountId) => ({ accountId, updatedAt: '2026-01-01T00:00:00Z' })) }),
    });

  it('answers closed accounts, 204 when none, and 429 when rate limited', async () => {
    const none = await post([dh.users.alice.accountId]);
    expect(none.status).toBe(204);
    expect(none.headers.get('cycle-period')).toBe('168');
    dh.reportAccounts.close(dh.users.nora.accountId);
    const closed = await post([dh.users.alice.accountId, dh.users.nora.accountId]);
    expect(await closed.json()).toEqual({ accounts: [{ accountId: dh.users.nora.accountId, status: 'closed' }] });
    dh.reportAccounts.rateLimit(30);
    const limited = await post([dh.users.alice.accountId]);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    dh.reportAccounts.rateLimit(null);
  });

  it('takes reports only from the app, signed for the installation (JWT with qsh)', async () => {
    expect((await post([dh.users.alice.accountId], null)).status).toBe(401);
    expect((await post([dh.users.alice.accountId], signed('not-the-secret-0123456789abcdef'))).status).toBe(401);
  });
});
