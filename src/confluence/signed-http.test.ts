import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createQueryStringHash, decodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import { UpstreamError } from '../lib/errors';
import { SignedHttp } from './signed-http';

interface Seen { method: string; url: string; authorization: string; contentType?: string; body: string }

/** A Confluence stand-in on loopback: records what arrives, answers with `reply`. */
async function confluence(reply: (seen: Seen) => { status: number; body?: string } | null) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, authorization: String(req.headers.authorization), contentType: req.headers['content-type'], body };
      seen.push(s);
      const r = reply(s);
      if (!r) return; // never answers
      res.writeHead(r.status, { 'Content-Type': 'application/json' }).end(r.body ?? '');
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wiki`;
  return {
    seen, baseUrl, connections: () => connections,
    close: () => { server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); },
  };
}

const SECRET = 'a-shared-secret-of-the-installation-0123456789';

describe('SignedHttp (app-signed calls to Confluence)', () => {
  it('signs as ACE does: HS256 with the tenant secret, iss the app key, aud the clientKey, 3-minute exp, qsh below /wiki', async () => {
    const c = await confluence(() => ({ status: 200, body: '{"id":"7"}' }));
    try {
      const client = new SignedHttp('com.example.attest', async (ck) => (ck === 'ck-1' ? { sharedSecret: SECRET, baseUrl: c.baseUrl } : null), 'ua-test', { now: () => 1_800_000_000_000 });
      const res = await client.call('ck-1', 'get', '/api/v2/pages/7?body-format=storage&version=3');
      expect(res).toMatchObject({ status: 200, body: { id: '7' } });
      expect(c.seen[0]).toMatchObject({ method: 'GET', url: '/wiki/api/v2/pages/7?body-format=storage&version=3' });
      const claims = decodeSymmetric(c.seen[0].authorization.replace(/^JWT /, ''), SECRET, SymmetricAlgorithm.HS256);
      // Confluence's side of the check: the qsh of the request as it arrived, the path taken relative to the base URL.
      const qsh = createQueryStringHash(fromMethodAndUrl('GET', c.seen[0].url), false, c.baseUrl);
      expect(claims).toEqual({ iss: 'com.example.attest', aud: ['ck-1'], iat: 1_800_000_000, exp: 1_800_000_180, qsh });
      expect(() => decodeSymmetric(c.seen[0].authorization.replace(/^JWT /, ''), 'another-secret', SymmetricAlgorithm.HS256)).toThrow();
    } finally {
      await c.close();
    }
  });

  it('sends a JSON body on POST, passes any status through with its parsed body, and keeps the socket alive', async () => {
    const c = await confluence((s) => (s.method === 'POST' ? { status: 404, body: '{"message":"no such page"}' } : { status: 200, body: 'plain text' }));
    try {
      const client = new SignedHttp('app', async () => ({ sharedSecret: SECRET, baseUrl: c.baseUrl }), 'ua');
      const res = await client.call('ck', 'post', '/rest/api/content/9/permission/check', { subject: { type: 'user', identifier: 'a' }, operation: 'read' });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ message: 'no such page' });
      expect(c.seen[0].contentType).toBe('application/json');
      expect(JSON.parse(c.seen[0].body)).toEqual({ subject: { type: 'user', identifier: 'a' }, operation: 'read' });
      expect((await client.call('ck', 'get', '/api/v2/spaces/1')).body).toBe('plain text');
      expect(c.connections()).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('asks a GET again on a new connection when the server closed the kept-alive one as the request went out', async () => {
    // Each connection serves one request; the next request on it finds the connection closed (a server whose
    // keep-alive ran out at that moment).
    const served = new WeakMap<object, number>();
    let resets = 0;
    const server = http.createServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) {
        resets++;
        return req.socket.destroy();
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"n":1}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wiki`;
      const client = new SignedHttp('app', async () => ({ sharedSecret: SECRET, baseUrl }), 'ua');
      for (let i = 0; i < 3; i++) expect(await client.call('ck', 'get', '/api/v2/pages/1')).toMatchObject({ status: 200, body: { n: 1 } });
      expect(resets).toBeGreaterThan(0);
      // A POST may have reached the server: it is not sent twice.
      const post = client.call('ck', 'post', '/api/v2/pages', { title: 't' });
      await expect(post).rejects.toBeInstanceOf(UpstreamError);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('refuses an unknown installation before sending anything', async () => {
    const c = await confluence(() => ({ status: 200 }));
    try {
      const client = new SignedHttp('app', async () => null, 'ua');
      await expect(client.call('gone', 'get', '/api/v2/pages/1')).rejects.toBeInstanceOf(UpstreamError);
      expect(c.seen).toHaveLength(0);
    } finally {
      await c.close();
    }
  });

  it('gives up on a Confluence that does not answer, and on one that cannot be reached, as UpstreamErrors', async () => {
    const c = await confluence(() => null);
    try {
      const client = new SignedHttp('app', async () => ({ sharedSecret: SECRET, baseUrl: c.baseUrl }), 'ua', { timeoutMs: 200 });
      await expect(client.call('ck', 'get', '/api/v2/pages/1')).rejects.toThrow(/no answer in 0.2 s/);
      const closed = new SignedHttp('app', async () => ({ sharedSecret: SECRET, baseUrl: 'http://127.0.0.1:9/wiki' }), 'ua');
      await expect(closed.call('ck', 'get', '/api/v2/pages/1')).rejects.toBeInstanceOf(UpstreamError);
    } finally {
      await c.close();
    }
  });

  it('lets the tenant lookup\'s own failure (the database away) through unchanged', async () => {
    const down = new Error('database unavailable');
    const client = new SignedHttp('app', async () => { throw down; }, 'ua');
    await expect(client.call('ck', 'get', '/x')).rejects.toBe(down);
  });
});
