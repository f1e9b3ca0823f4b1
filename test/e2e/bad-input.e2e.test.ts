import * as jwt from 'atlassian-jwt';
import request from 'supertest';
import { unsignedToken } from '../helpers/connect-signer';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * Input from outside (JWT claims, install bodies, path and query parameters, JSON bodies, webhook payloads)
 * is checked at the edge: a bad value is a 4xx with a plain message, never a 500 from PostgreSQL (#12).
 */
describe('bad input never reaches the database and never answers 5xx', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const alice = () => d.users.alice.accountId;
  const page = () => d.pages.releaseChecklist;
  const path = (url: string) => url.slice(t.baseUrl.length);
  const now = () => Math.floor(Date.now() / 1000);
  const workflowPath = () => `/api/pages/${page().id}/workflows/${page().macroIds[0]}`;
  const authed = (r: request.Test, token = d.contextJwt(alice(), { pageId: page().id })) => r.set('Authorization', `JWT ${token}`);
  /** The macro URL Confluence would sign, with some parameters replaced, signed again. */
  const macroWith = (params: Record<string, string>) => {
    const url = new URL(d.macroUrl(alice(), page().id, page().macroIds[0]));
    url.searchParams.delete('jwt');
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return path(d.signedUrl(alice(), url.toString()));
  };
  /** HS256 like Confluence's, with a secret nobody installed: ACE must not look anything up for it. */
  const forgedToken = (claims: object) => jwt.encodeSymmetric(claims as jwt.Params, 'not-a-tenant-secret', jwt.SymmetricAlgorithm.HS256);
  const noInternals = (res: request.Response) => {
    const text = res.text ?? '';
    expect(text).not.toMatch(/eyJ|Signature verification|decodeSymmetric|\[object Object\]|audit event|ERR_|invalid byte sequence|\\u0000/);
  };

  describe('forged JWT claims are refused (401) before anything looks the tenant up', () => {
    const forged: Array<[string, object]> = [
      ['iss with a NUL', { iss: 'a\u0000b', sub: 'x', qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['aud with a NUL', { iss: 'x', aud: ['\u0000'], qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['iss a lone surrogate', { iss: '\ud800', qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['iss an object', { iss: { a: 1 }, qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['aud an object', { iss: 'x', aud: [{ a: 1 }], qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['sub with a NUL', { iss: 'x', sub: '\u0000', qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
      ['a huge iss', { iss: 'x'.repeat(5000), qsh: 'context-qsh', iat: 1, exp: 9999999999 }],
    ];
    it.each(forged)('%s: on /api (context JWT)', async (_name, claims) => {
      const res = await authed(request(t.baseUrl).get(workflowPath()), forgedToken(claims));
      expect(res.status).toBe(401);
      noInternals(res);
    });
    it.each(forged)('%s: on a module route (page JWT)', async (_name, claims) => {
      const res = await request(t.baseUrl).get('/my-approvals').query({ jwt: forgedToken(claims) });
      expect(res.status).toBe(401);
      noInternals(res);
    });
    it.each(forged)('%s: on a webhook', async (_name, claims) => {
      const res = await request(t.baseUrl).post('/webhooks/page-updated').set('Authorization', `JWT ${forgedToken(claims)}`).send({ timestamp: 1 });
      expect(res.status).toBe(401);
      noInternals(res);
    });
    it.each(forged)('%s: unsigned (alg none)', async (_name, claims) => {
      const res = await request(t.baseUrl).get('/my-approvals').query({ jwt: unsignedToken(claims) });
      expect(res.status).toBe(401);
      noInternals(res);
    });
  });

  it('answers a bad signature with a plain message that echoes no part of the token', async () => {
    const claims = { iss: d.clientKey, sub: alice(), qsh: 'context-qsh', iat: now(), exp: now() + 60 };
    const token = forgedToken(claims);
    const res = await request(t.baseUrl).get('/my-approvals').query({ jwt: token });
    expect(res.status).toBe(401);
    noInternals(res);
    expect(res.text).not.toContain(token.split('.')[1]);
  });

  describe('install bodies', () => {
    it.each([123, {}, [], 'http://[::1', '\u0000'])('refuses baseUrl %j with 400 on /installed and /uninstalled', async (baseUrl) => {
      for (const route of ['/installed', '/uninstalled']) {
        const res = await request(t.baseUrl).post(route).send({ key: t.addon.key, clientKey: 'c', sharedSecret: 's', baseUrl });
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(/baseUrl/);
      }
    });
    it('refuses a NUL clientKey with 400', async () => {
      const res = await request(t.baseUrl).post('/installed').send({ key: t.addon.key, clientKey: 'a\u0000', sharedSecret: 's', baseUrl: 'https://x.atlassian.net/wiki' });
      expect(res.status).toBe(400);
    });
  });

  describe('strings with a NUL or a lone surrogate get 400 where they enter', () => {
    it('a decision comment', async () => {
      await request(t.baseUrl).get(path(d.macroUrl(alice(), page().id, page().macroIds[0])));
      const version = d.page(page().id).version;
      for (const comment of ['a\u0000b', 'x\ud800y']) {
        const res = await authed(request(t.baseUrl).post(`${workflowPath()}/decisions`)).send({ decision: 'approve', comment, pageVersion: version });
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(/comment/);
      }
      expect(await t.db('decisions').where({ client_key: d.clientKey })).toHaveLength(0);
    });

    it.each(['%00', 'a%00b', '%ED%A0%80', '..%2F..%2Fx'])('a macro id in the path: %s', async (macroId) => {
      const res = await authed(request(t.baseUrl).get(`/api/pages/${page().id}/workflows/${macroId}`));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      noInternals(res);
    });

    it.each([
      ['approvers', 'a\u0000b'],
      ['groups', 'g\u0000'],
      ['spaceKey', 'E\u0000NG'],
      ['macroId', 'm\u0000'],
    ])('signed macro parameter %s', async (name, value) => {
      const res = await request(t.baseUrl).get(macroWith({ [name]: value }));
      expect(res.status).toBe(400);
      noInternals(res);
    });

    it('a due date in year 0 (JavaScript parses it, PostgreSQL has no such year)', async () => {
      const res = await request(t.baseUrl).get(macroWith({ due: '0000-01-01' }));
      expect(res.status).toBe(400);
      expect(res.text).toMatch(/Due date is not a real date/);
    });

    it.each(['g%uD800', 'g%ED%A0%80', 'g%'])('a query parameter that is no UTF-8 (%s) is refused', async (raw) => {
      const res = await request(t.baseUrl).get(`${macroWith({})}&groups=${raw}`);
      expect([400, 401]).toContain(res.status);
      noInternals(res);
    });

    it.each([
      ['a group with a NUL', { groups: ['g\u0000'] }],
      ['a group with a lone surrogate', { groups: ['g\udc00'] }],
    ])('space settings: %s', async (_name, defaults) => {
      const token = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' });
      const body = {
        allowSelfApproval: false,
        resetOnEdit: 'content',
        reminderCadenceDays: 7,
        exportRole: 'space-admins',
        defaults: { approvers: [], rule: 'all', quorum: null, rejections: 1, dueOffsetDays: null, reviewDays: null, ...defaults },
      };
      const res = await request(t.baseUrl).put('/api/spaces/ENG/settings').set('Authorization', `JWT ${token}`).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/groups/);
    });

    it('a NUL in a query parameter of an API route', async () => {
      const res = await authed(request(t.baseUrl).get('/api/pickers/users').query({ q: 'a\u0000' }));
      expect(res.status).toBe(400);
    });
  });

  describe('webhooks', () => {
    const settled = () => t.pageEvents.settled();
    it('keeps an event whose title holds a NUL (the title is display data)', async () => {
      const delivery = d.webhook('page_updated', d.pages.vendorRisk.id);
      const body = { ...delivery.body, page: { ...(delivery.body.page as object), title: 'Vendor\u0000risk' } };
      expect((await d.sendWebhook({ ...delivery, body })).status).toBe(204);
      await settled();
      const rows = await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id });
      expect(rows).toHaveLength(1);
      expect(rows[0].payload.page.title).toBe('Vendor\ufffdrisk');
    });

    it('refuses an invalid payload with 400 and stores nothing', async () => {
      const n = (await t.db('page_events')).length;
      const delivery = d.webhook('page_updated', d.pages.vendorRisk.id);
      const res = await d.sendWebhook({ ...delivery, body: { ...delivery.body, page: { ...(delivery.body.page as object), idAsString: '1\u00002', id: null } } });
      expect(res.status).toBe(400);
      const noTimestamp = await d.sendWebhook({ ...delivery, body: { page: delivery.body.page } });
      expect(noTimestamp.status).toBe(400);
      // Numbers the inbox columns cannot hold: a time past JavaScript's last date, a version past int4.
      expect((await d.sendWebhook({ ...delivery, body: { ...delivery.body, timestamp: 2 ** 53 - 1 } })).status).toBe(400);
      expect((await d.sendWebhook({ ...delivery, body: { ...delivery.body, page: { ...(delivery.body.page as object), version: 2 ** 31 } } })).status).toBe(400);
      expect((await t.db('page_events')).length).toBe(n);
    });
  });
});
