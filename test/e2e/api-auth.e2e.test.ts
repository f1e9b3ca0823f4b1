import * as jwt from 'atlassian-jwt';
import request from 'supertest';
import { startTestApp, TestApp } from '../helpers/test-app';
import { contextToken } from '../helpers/connect-signer';

/**
 * /api takes only what AP.context.getToken() gives an iframe: a context JWT issued by the tenant.
 * Not ACE's X-acpt session tokens (no qsh, re-minted on every response: one leak is valid forever), not a
 * page JWT bound to another URL, not a token that lives longer than Confluence's 15 minutes.
 */
describe('who /api lets in', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const alice = () => d.users.alice.accountId;
  const page = () => d.pages.releaseChecklist;
  const workflowPath = () => `/api/pages/${page().id}/workflows/${page().macroIds[0]}`;
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (claims: object, secret = d.tenant().sharedSecret) => jwt.encodeSymmetric(claims as jwt.Params, secret, jwt.SymmetricAlgorithm.HS256);
  /** What ACE 11.5.3 mints as X-acpt (createSessionToken): the app as issuer, the tenant as audience, no qsh. */
  const sessionToken = () =>
    sign({ iss: t.addon.key, aud: [d.clientKey], sub: alice(), iat: now(), exp: now() + 900, context: { user: { accountId: alice() } } });
  const context = (over: object = {}) =>
    sign({ iss: d.clientKey, sub: alice(), iat: now(), exp: now() + 180, qsh: 'context-qsh', context: { user: { accountId: alice() } }, ...over });
  const decide = (auth: (r: request.Test) => request.Test) =>
    auth(request(t.baseUrl).post(`${workflowPath()}/decisions`)).send({ decision: 'approve', comment: '', pageVersion: d.page(page().id).version });

  beforeAll(async () => {
    const macro = await request(t.baseUrl).get(d.macroUrl(alice(), page().id, page().macroIds[0]).slice(t.baseUrl.length));
    expect(macro.status).toBe(200);
  });

  it("takes the devhost's context JWT and hands out no session token", async () => {
    const res = await request(t.baseUrl).get(workflowPath()).set('Authorization', `JWT ${d.contextJwt(alice(), { pageId: page().id })}`);
    expect(res.status).toBe(200);
    expect(res.headers['x-acpt']).toBeUndefined();
  });

  it('answers that no cache may keep, without entity tags; /public files stay cacheable', async () => {
    const token = () => `JWT ${d.contextJwt(alice(), { pageId: page().id })}`;
    const answers = [
      await request(t.baseUrl).get(workflowPath()).set('Authorization', token()),
      await decide((r) => r.set('Authorization', token())),
      await request(t.baseUrl).get(d.macroUrl(alice(), page().id, page().macroIds[0]).slice(t.baseUrl.length)),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 201, 200]);
    for (const res of answers) {
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.etag).toBeUndefined();
    }
    const file = await request(t.baseUrl).get('/public/js/attest-ap.js');
    expect(file.status).toBe(200);
    expect(file.headers['cache-control']).not.toContain('no-store');
    expect(file.headers.etag).toBeDefined();
  });

  it('mints no X-acpt on module pages either', async () => {
    const res = await request(t.baseUrl).get(d.macroUrl(alice(), page().id, page().macroIds[0]).slice(t.baseUrl.length));
    expect(res.status).toBe(200);
    expect(res.headers['x-acpt']).toBeUndefined();
  });

  it.each([
    ['an ACE session token as X-acpt', (r: request.Test) => r.set('X-acpt', sessionToken())],
    ['an ACE session token as ?acpt=', (r: request.Test) => r.query({ acpt: sessionToken() })],
    ['an ACE session token as Authorization', (r: request.Test) => r.set('Authorization', `JWT ${sessionToken()}`)],
    ['a context JWT in the query instead of the header', (r: request.Test) => r.query({ jwt: context() })],
    ['the app key as issuer, even with context-qsh', (r: request.Test) => r.set('Authorization', `JWT ${context({ iss: t.addon.key, aud: [d.clientKey] })}`)],
    ['no qsh', (r: request.Test) => r.set('Authorization', `JWT ${context({ qsh: undefined })}`)],
    ['a lifetime over 15 minutes', (r: request.Test) => r.set('Authorization', `JWT ${context({ exp: now() + 3600 })}`)],
    ['no iat', (r: request.Test) => r.set('Authorization', `JWT ${context({ iat: undefined })}`)],
    ['an expired token', (r: request.Test) => r.set('Authorization', `JWT ${context({ iat: now() - 200, exp: now() - 20 })}`)],
    ['the wrong secret', (r: request.Test) => r.set('Authorization', `JWT ${sign({ iss: d.clientKey, sub: alice(), iat: now(), exp: now() + 60, qsh: 'context-qsh' }, 'not-the-secret-0123456789abcdef')}`)],
  ])('refuses %s (401), and it decides nothing', async (_name, auth) => {
    const before = await t.db('decisions').where({ client_key: d.clientKey }).count('* as n').first();
    expect((await auth(request(t.baseUrl).get(workflowPath()))).status).toBe(401);
    const res = await decide(auth);
    expect(res.status).toBe(401);
    expect(await t.db('decisions').where({ client_key: d.clientKey }).count('* as n').first()).toEqual(before);
  });

  it("refuses the macro's page JWT (its qsh is bound to GET /macro) as an API credential", async () => {
    const pageJwt = new URL(d.macroUrl(alice(), page().id, page().macroIds[0])).searchParams.get('jwt')!;
    const res = await decide((r) => r.set('Authorization', `JWT ${pageJwt}`));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/context JWT/);
  });

  describe('pickers and name lookups', () => {
    const anonymous = () => sign({ iss: d.clientKey, iat: now(), exp: now() + 180, qsh: 'context-qsh', context: {} });
    it.each(['/api/pickers/users?q=a', '/api/pickers/groups?q=s', '/api/pickers/users/names?ids=557058:someone'])(
      'refuse a context JWT without a user (401) and ask Confluence nothing: %s', async (url) => {
      const calls = d.restCalls.length;
      const res = await request(t.baseUrl).get(url).set('Authorization', `JWT ${anonymous()}`);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toMatch(/signed-in Atlassian account/);
      expect(d.restCalls.length).toBe(calls);
    });

    it('answer a user, and resolve at most 50 names per request', async () => {
      const auth = `JWT ${d.contextJwt(alice())}`;
      expect((await request(t.baseUrl).get('/api/pickers/users?q=Ali').set('Authorization', auth)).body.results).toContainEqual(
        expect.objectContaining({ accountId: alice(), displayName: 'Alice Approver' }),
      );
      const ids = Array.from({ length: 51 }, (_, i) => `557058:lookup-${i}`);
      const tooMany = await request(t.baseUrl).get(`/api/pickers/users/names?ids=${ids.join(',')}`).set('Authorization', auth);
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.message).toMatch(/at most 50/);
      const calls = d.restCalls.length;
      const fifty = await request(t.baseUrl).get(`/api/pickers/users/names?ids=${[alice(), ...ids.slice(1, 50)].join(',')}`).set('Authorization', auth);
      expect(fifty.status).toBe(200);
      expect(fifty.body.results).toHaveLength(50);
      expect(fifty.body.results[0]).toEqual({ accountId: alice(), displayName: 'Alice Approver' });
      expect(d.restCalls.slice(calls).filter((c) => c.path.startsWith('/rest/api/user?')).length).toBeLessThanOrEqual(50);
    });
  });

  it('accepts a context JWT signed with atlassian-jwt by an independent signer (not only the devhost)', async () => {
    const token = contextToken({ clientKey: d.clientKey, secret: d.tenant().sharedSecret, accountId: alice(), expSeconds: 900 });
    expect((await request(t.baseUrl).get(workflowPath()).set('Authorization', `JWT ${token}`)).status).toBe(200);
  });
});
