import { silentLogger } from '../lib/logger';
import { NotFoundError, UpstreamError } from '../lib/errors';
import { RestConfluenceClient } from './rest-confluence-client';

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** The client's transport as SignedHttp offers it: one call, any status answered. */
function fakeTransport(routes: (method: string, url: string, body: unknown) => Reply, calls: string[] = [], bodies: unknown[] = []) {
  return {
    async call(_clientKey: string, method: string, url: string, body?: unknown) {
      calls.push(`${method.toUpperCase()} ${url}`);
      bodies.push(body);
      const r = routes(method, url, body);
      await new Promise((resolve) => setImmediate(resolve));
      return { status: r.status, body: r.body, headers: r.headers ?? {} };
    },
  };
}

/** The client under test, with the app key it puts in app-property paths. */
const newClient = (transport: ReturnType<typeof fakeTransport>, logger: ReturnType<typeof silentLogger>) => new RestConfluenceClient('attest-test', logger, transport);

const v2Page = (over: Record<string, unknown> = {}) => ({
  id: '7',
  title: 'T',
  spaceId: '99',
  version: { number: 3, authorId: 'a1', createdAt: '2026-01-01T00:00:00Z' },
  body: { storage: { value: '<p>x</p>', representation: 'storage' } },
  ...over,
});
const space = { status: 200, body: { id: '99', key: 'ENG', name: 'Engineering' } };

describe('RestConfluenceClient', () => {
  it('reads a page version through v2 only, and the space key through v2 spaces (once)', async () => {
    const calls: string[] = [];
    const client = newClient(
      fakeTransport((_m, url) => (url.startsWith('/api/v2/spaces/99') ? space : { status: 200, body: v2Page() }), calls),
      silentLogger(),
    );
    expect(await client.getPage('ck', '7', { version: 3 })).toEqual({
      id: '7', type: 'page', title: 'T', spaceId: '99', spaceKey: 'ENG', version: 3, versionAuthorId: 'a1', versionCreatedAt: '2026-01-01T00:00:00Z', body: '<p>x</p>',
    });
    await client.getPage('ck', '7');
    expect(calls).toEqual([
      'GET /api/v2/pages/7?body-format=storage&version=3',
      'GET /api/v2/spaces/99',
      'GET /api/v2/pages/7?body-format=storage',
    ]);
    expect(calls.some((c) => c.includes('/rest/api/content/7?'))).toBe(false);
  });

  it('reads a page\'s head without asking for its body (no body-format), a blog post\'s when the page is not there', async () => {
    const calls: string[] = [];
    const client = newClient(
      fakeTransport((_m, url) => (url.startsWith('/api/v2/spaces/') ? space : url.startsWith('/api/v2/blogposts/8') ? { status: 200, body: v2Page({ id: '8', body: {} }) } : url.startsWith('/api/v2/pages/7') ? { status: 200, body: v2Page({ body: {} }) } : { status: 404 }), calls),
      silentLogger(),
    );
    expect(await client.getPageHead('ck', '7', { type: 'page' })).toEqual({
      id: '7', type: 'page', title: 'T', spaceId: '99', spaceKey: 'ENG', version: 3, versionAuthorId: 'a1', versionCreatedAt: '2026-01-01T00:00:00Z',
    });
    expect(await client.getPageHead('ck', '8')).toMatchObject({ id: '8', type: 'blogpost' });
    expect(calls).toEqual(['GET /api/v2/pages/7', 'GET /api/v2/spaces/99', 'GET /api/v2/pages/8', 'GET /api/v2/blogposts/8']);
  });

  it('reads the heads asked for while one is in flight in one v2 list call, and a head it leaves out alone', async () => {
    const calls: string[] = [];
    const pages: Record<string, number> = { '7': 3, '8': 5, '9': 2 };
    const client = newClient(
      fakeTransport((_m, url) => {
        if (url.startsWith('/api/v2/spaces/')) return space;
        const list = /^\/api\/v2\/pages\?id=([\d,]+)&limit=(\d+)$/.exec(url);
        // 9 is restricted from the app: a list leaves it out, a single read is a 404.
        if (list) return { status: 200, body: { results: list[1].split(',').filter((id) => id !== '9').map((id) => v2Page({ id, version: { number: pages[id] }, body: {} })), _links: {} } };
        const one = /^\/api\/v2\/pages\/(\d+)$/.exec(url);
        return one && one[1] !== '9' ? { status: 200, body: v2Page({ id: one[1], version: { number: pages[one[1]] }, body: {} }) } : { status: 404 };
      }, calls),
      silentLogger(),
    );
    const heads = ['7', '8', '9', '8', '7'].map((id) => client.getPageHead('ck', id, { type: 'page' }).then((h) => `${h.id} v${h.version} ${h.spaceKey}`, (e: Error) => e.constructor.name));
    expect(await Promise.all(heads)).toEqual(['7 v3 ENG', '8 v5 ENG', 'NotFoundError', '8 v5 ENG', '7 v3 ENG']);
    // The first two alone; the rest, asked while two were in flight, in one list call (each id once); 9, left out of it, alone.
    expect(calls.filter((c) => !c.includes('/spaces/'))).toEqual(['GET /api/v2/pages/7', 'GET /api/v2/pages/8', 'GET /api/v2/pages?id=9,8,7&limit=3', 'GET /api/v2/pages/9']);
  });

  it('reads blog posts from /blogposts, and finds one by id when the type is not known', async () => {
    const calls: string[] = [];
    const client = newClient(
      fakeTransport((_m, url) => (url.startsWith('/api/v2/spaces/') ? space : url.startsWith('/api/v2/blogposts/8') ? { status: 200, body: v2Page({ id: '8' }) } : { status: 404 }), calls),
      silentLogger(),
    );
    expect(await client.getPage('ck', '8', { type: 'blogpost' })).toMatchObject({ id: '8', type: 'blogpost', spaceKey: 'ENG' });
    expect(await client.getPage('ck', '8')).toMatchObject({ type: 'blogpost' });
    await expect(client.getPage('ck', '9')).rejects.toBeInstanceOf(NotFoundError);
    expect(calls).toContain('GET /api/v2/pages/8?body-format=storage');
  });

  it('turns a 410 Gone and an unexpected shape into upstream errors that name the endpoint and the field', async () => {
    const gone = newClient(fakeTransport(() => ({ status: 410, body: { statusCode: 410, message: 'This deprecated endpoint has been removed.' } })), silentLogger());
    await expect(gone.groupsOf('ck', 'u')).rejects.toThrow(/410 Gone.*|no longer offers GET \/rest\/api\/user\/memberof/);
    await expect(gone.groupsOf('ck', 'u')).rejects.toBeInstanceOf(UpstreamError);
    const odd = newClient(fakeTransport(() => ({ status: 200, body: v2Page({ version: { number: 'three' } }) })), silentLogger());
    await expect(odd.getPage('ck', '7', { type: 'page' })).rejects.toThrow(/GET \/api\/v2\/pages\/7 with an unexpected shape \(version\.number/);
  });

  it('answers read access as granted, denied, or unknown when the app cannot see the page; 403 is an admin error', async () => {
    const answer: Record<string, Reply> = {
      '1': { status: 200, body: { hasPermission: true, errors: [] } },
      '2': { status: 200, body: { hasPermission: false, errors: [{ translation: 'no' }] } },
      '3': { status: 404, body: { statusCode: 404 } },
      '4': { status: 403, body: { statusCode: 403 } },
    };
    const bodies: unknown[] = [];
    const client = newClient(fakeTransport((_m, url) => answer[url.split('/')[4]], [], bodies), silentLogger());
    expect(await client.readAccess('ck', '1', 'u')).toBe('granted');
    expect(bodies[0]).toEqual({ subject: { type: 'user', identifier: 'u' }, operation: 'read' });
    expect(await client.readAccess('ck', '2', 'u')).toBe('denied');
    expect(await client.readAccess('ck', '3', 'u')).toBe('unknown');
    await expect(client.readAccess('ck', '4', 'u')).rejects.toThrow(/Confluence administrator should check/);
  });

  it('pages memberof by the links it is given, even when the server caps the page size', async () => {
    const calls: string[] = [];
    const all = ['a', 'b', 'c', 'd', 'e'].map((n) => ({ type: 'group', name: n, id: `id-${n}` }));
    const client = newClient(
      fakeTransport((_m, url) => {
        const start = Number(new URL(url, 'http://x').searchParams.get('start'));
        const results = all.slice(start, start + 2);
        return { status: 200, body: { results, start, limit: 2, size: results.length, _links: start + 2 < all.length ? { next: `/rest/api/user/memberof?start=${start + 2}` } : {} } };
      }, calls),
      silentLogger(),
    );
    expect(await client.groupMemberships('ck', 'u')).toEqual(all.map((g) => ({ name: g.name, id: g.id })));
    expect(calls).toHaveLength(3);
  });

  it('retries 429 and 5xx politely, then gives up with an upstream error', async () => {
    let n = 0;
    const client = newClient(
      fakeTransport(() => (++n < 3 ? { status: n === 1 ? 429 : 503, headers: { 'retry-after': '0' } } : { status: 200, body: { hasPermission: true } })),
      silentLogger(),
    );
    expect(await client.readAccess('ck', '7', 'u')).toBe('granted');
    expect(n).toBe(3);
    const down = newClient(fakeTransport(() => ({ status: 500 })), silentLogger());
    await expect(down.groupsOf('ck', 'u')).rejects.toBeInstanceOf(UpstreamError);
  });

  it('finds space admins through paged permissions: users, group ids and role holders', async () => {
    const client = newClient(
      fakeTransport((_m, url) => {
        if (url.startsWith('/api/v2/spaces?')) return { status: 200, body: { results: [{ id: 5, key: 'ENG' }] } };
        if (url === '/api/v2/spaces/5/permissions?limit=250')
          return { status: 200, body: { results: [{ principal: { type: 'user', id: 'u1' }, operation: { key: 'administer', targetType: 'space' } }], _links: { next: '/wiki/api/v2/spaces/5/permissions?cursor=abc' } } };
        if (url === '/api/v2/spaces/5/permissions?cursor=abc')
          return {
            status: 200,
            body: {
              results: [
                { principal: { type: 'group', id: 'g9' }, operation: { key: 'administer', targetType: 'space' } },
                { principal: { type: 'role', id: 'r1' }, operation: { key: 'administer', targetType: 'space' } },
                { principal: { type: 'user', id: 'u2' }, operation: { key: 'read', targetType: 'space' } },
              ],
              _links: {},
            },
          };
        if (url === '/api/v2/spaces/5/role-assignments?role-id=r1&limit=250')
          return { status: 200, body: { results: [{ roleId: 'r1', principal: { principalType: 'USER', principalId: 'u3' } }, { roleId: 'r1', principal: { principalType: 'GROUP', principalId: 'g4' } }], _links: {} } };
        return { status: 404 };
      }),
      silentLogger(),
    );
    expect(await client.spaceAdmins('ck', 'ENG')).toEqual({ spaceId: '5', users: ['u1', 'u3'], groups: ['g9', 'g4'] });
  });

  it('posts reminders as v2 footer comments on pages and on blog posts', async () => {
    const calls: string[] = [];
    const bodies: unknown[] = [];
    const client = newClient(fakeTransport(() => ({ status: 201, body: { id: '123' } }), calls, bodies), silentLogger());
    expect(await client.createComment('ck', { id: '7', type: 'page' }, '<p>x</p>')).toEqual({ id: '123' });
    await client.createComment('ck', { id: '8', type: 'blogpost' }, '<p>y</p>');
    expect(calls).toEqual(['POST /api/v2/footer-comments', 'POST /api/v2/footer-comments']);
    expect(bodies).toEqual([
      { pageId: '7', body: { representation: 'storage', value: '<p>x</p>' } },
      { blogPostId: '8', body: { representation: 'storage', value: '<p>y</p>' } },
    ]);
  });
});
