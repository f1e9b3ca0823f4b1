import { silentLogger } from '../lib/logger';
import { NotFoundError, UpstreamError } from '../lib/errors';
import { AceConfluenceClient } from './ace-confluence-client';

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** ACE's httpClient as the client uses it: get/post with the request library's callback. */
function fakeAddon(routes: (method: string, url: string, body: unknown) => Reply, calls: string[] = []) {
  const handler = (method: string) => (opts: { url: string; body?: unknown }, cb: (err: unknown, res: unknown, body: unknown) => void) => {
    calls.push(`${method.toUpperCase()} ${opts.url}`);
    const r = routes(method, opts.url, opts.body);
    setImmediate(() => cb(null, { statusCode: r.status, headers: r.headers ?? {} }, r.body));
  };
  return { httpClient: () => ({ get: handler('get'), post: handler('post') }) } as never;
}

describe('AceConfluenceClient', () => {
  it('reads a page version from the v1 content API', async () => {
    const calls: string[] = [];
    const client = new AceConfluenceClient(
      fakeAddon(() => ({
        status: 200,
        body: { id: 7, title: 'T', space: { key: 'ENG' }, version: { number: 3, by: { accountId: 'a1' }, when: '2026-01-01T00:00:00Z' }, body: { storage: { value: '<p>x</p>' } } },
      }), calls),
      silentLogger(),
    );
    expect(await client.getPage('ck', '7', 3)).toEqual({ id: '7', title: 'T', spaceKey: 'ENG', version: 3, versionAuthorId: 'a1', versionCreatedAt: '2026-01-01T00:00:00Z', body: '<p>x</p>' });
    expect(calls).toEqual(['GET /rest/api/content/7?expand=version%2Cbody.storage%2Cspace%2Chistory&status=historical&version=3']);
  });

  it('asks v2 when v1 answers 404, and only then calls the page gone', async () => {
    const calls: string[] = [];
    const client = new AceConfluenceClient(
      fakeAddon((_m, url) =>
        url.startsWith('/api/v2/pages/7')
          ? { status: 200, body: { id: '7', title: 'T', spaceId: '99', version: { number: 4, authorId: 'a2', createdAt: '2026-02-01T00:00:00Z' }, body: { storage: { value: 'b' } } } }
          : { status: 404, body: { statusCode: 404 } },
      calls),
      silentLogger(),
    );
    expect(await client.getPage('ck', '7', 4)).toMatchObject({ version: 4, versionAuthorId: 'a2', body: 'b', spaceKey: '' });
    expect(calls[1]).toBe('GET /api/v2/pages/7?body-format=storage&version=4');
    await expect(client.getPage('ck', '8')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('retries 429 and 5xx politely, then gives up with an upstream error', async () => {
    let n = 0;
    const client = new AceConfluenceClient(
      fakeAddon(() => (++n < 3 ? { status: n === 1 ? 429 : 503, headers: { 'retry-after': '0' } } : { status: 200, body: { hasPermission: true } })),
      silentLogger(),
    );
    expect(await client.canRead('ck', '7', 'u')).toBe(true);
    expect(n).toBe(3);
    const down = new AceConfluenceClient(fakeAddon(() => ({ status: 500 })), silentLogger());
    await expect(down.groupsOf('ck', 'u')).rejects.toBeInstanceOf(UpstreamError);
  });

  it('finds space admins through paged permissions, as users and as group ids', async () => {
    const client = new AceConfluenceClient(
      fakeAddon((_m, url) => {
        if (url.startsWith('/api/v2/spaces?')) return { status: 200, body: { results: [{ id: 5, key: 'ENG' }] } };
        if (url === '/api/v2/spaces/5/permissions')
          return { status: 200, body: { results: [{ principal: { type: 'user', id: 'u1' }, operation: { key: 'administer', targetType: 'space' } }], _links: { next: '/wiki/api/v2/spaces/5/permissions?cursor=abc' } } };
        if (url === '/api/v2/spaces/5/permissions?cursor=abc')
          return { status: 200, body: { results: [{ principal: { type: 'group', id: 'g9' }, operation: { key: 'administer', targetType: 'space' } }, { principal: { type: 'user', id: 'u2' }, operation: { key: 'read', targetType: 'space' } }], _links: {} } };
        return { status: 404 };
      }),
      silentLogger(),
    );
    expect(await client.spaceAdmins('ck', 'ENG')).toEqual({ spaceId: '5', users: ['u1'], groups: ['g9'] });
  });
});
