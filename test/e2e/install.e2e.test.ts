import { generateKeyPairSync, randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, TestApp } from '../helpers/test-app';
import { ConnectSigner, contextToken, installPayload, pageToken, unsignedToken } from '../helpers/connect-signer';

/**
 * The Connect protocol from outside: an independent signer (its own RSA key and key server) installs
 * the add-on and signs page JWTs with atlassian-jwt; nothing here uses the devhost.
 */
describe('signed install and JWT verification', () => {
  let app: TestApp;
  const signer = new ConnectSigner();
  const site = 'https://acme.atlassian.net/wiki';

  beforeAll(async () => {
    await signer.start();
    app = await startTestApp({ devhost: false });
    process.env.CONNECT_KEYS_CDN_URL = signer.keyServerUrl;
  });
  afterAll(async () => {
    await app?.close();
    await signer.stop();
  });

  async function install(payload: object, token?: string, path = '/installed') {
    const req = request(app.baseUrl).post(path).send(payload);
    return token === undefined ? req : req.set('Authorization', `JWT ${token}`);
  }
  const tenantRow = (clientKey: string) => app.db('tenants').where({ client_key: clientKey }).first();
  const signedInstall = async (payload: ReturnType<typeof installPayload>) => {
    const res = await install(payload, signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: payload.clientKey }));
    expect(res.status).toBe(204);
  };
  // The macro editor is a module URL that needs nothing from Confluence beyond the JWT (the
  // macro itself asks the site for permissions, and this signer is not a Confluence).
  const macroUrl = (pageId: string) => `${app.baseUrl}/macro-editor?spaceKey=ENG&pageId=${pageId}`;

  it('accepts a signed install and stores the tenant with its secret sealed', async () => {
    const payload = installPayload(`ck-${randomUUID()}`, site);
    await signedInstall(payload);
    const row = await tenantRow(payload.clientKey);
    expect(row).toMatchObject({ base_url: site, state: 'installed', addon_key: 'io.attest.confluence' });
    // No column, in any table, holds the shared secret in clear text.
    const dump = await app.db.raw(`select t::text as row from tenants t union all select s::text from addon_settings s`);
    const text = dump.rows.map((r: { row: string }) => r.row).join('\n');
    expect(text).not.toContain(payload.sharedSecret);
    expect(text).not.toContain(Buffer.from(payload.sharedSecret).toString('hex'));
  });

  it.each([
    ['unsigned', (p: { clientKey: string }) => undefined],
    ['signed by a key the key server does not serve', (p: { clientKey: string }) =>
      signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: p.clientKey, kid: randomUUID() })],
    ['signed by another key under a served kid', (p: { clientKey: string }) =>
      signer.installToken({
        path: '/installed', addonBaseUrl: app.baseUrl, clientKey: p.clientKey,
        privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      })],
    ['with the wrong aud', (p: { clientKey: string }) =>
      signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: p.clientKey, aud: 'https://evil.example' })],
    ['with iss different from the body clientKey', () =>
      signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: 'someone-else' })],
    ['expired', (p: { clientKey: string }) =>
      signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: p.clientKey, expSeconds: -10 })],
    ['with a qsh for another path', (p: { clientKey: string }) =>
      signer.installToken({ path: '/uninstalled', addonBaseUrl: app.baseUrl, clientKey: p.clientKey })],
    ['as HS256 (symmetric installs are refused)', (p: { clientKey: string }) =>
      pageToken({ url: `${app.baseUrl}/installed`, method: 'POST', addonBaseUrl: app.baseUrl, clientKey: p.clientKey, secret: 'x'.repeat(32), accountId: '' })],
  ])('refuses an install %s: 401 and no tenant row', async (_name, tokenFor) => {
    const payload = installPayload(`ck-${randomUUID()}`, site);
    const res = await install(payload, tokenFor(payload));
    expect(res.status).toBe(401);
    expect(await tenantRow(payload.clientKey)).toBeUndefined();
  });

  it('refuses an install payload that does not validate (400) even when signed', async () => {
    const payload = { ...installPayload(`ck-${randomUUID()}`, site), sharedSecret: '' };
    const res = await install(payload, signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: payload.clientKey }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/sharedSecret/);
    expect(await tenantRow(payload.clientKey)).toBeUndefined();
  });

  describe('module URLs', () => {
    const tenant = installPayload(`ck-${randomUUID()}`, site);
    const other = installPayload(`ck-${randomUUID()}`, 'https://other.atlassian.net/wiki');
    const alice = 'acc-alice';
    beforeAll(async () => {
      await signedInstall(tenant);
      await signedInstall(other);
    });
    const sign = (url: string, over: Partial<Parameters<typeof pageToken>[0]> = {}) =>
      pageToken({ url, addonBaseUrl: app.baseUrl, clientKey: tenant.clientKey, secret: tenant.sharedSecret, accountId: alice, ...over });
    const fetchWith = (url: string, token: string) => request(app.baseUrl).get(`${url.slice(app.baseUrl.length)}&jwt=${token}`);

    it('serves a module URL with a valid page JWT (200)', async () => {
      const url = macroUrl('100');
      const res = await fetchWith(url, sign(url));
      expect(res.status).toBe(200);
      expect(res.headers['content-security-policy']).toContain('frame-ancestors');
      expect(res.headers['content-security-policy']).toContain('https://*.atlassian.net');
    });

    it.each([
      ['a tampered qsh (parameters changed after signing)', (url: string) => ({ token: sign(url), url: url.replace('pageId=100', 'pageId=101') })],
      ['a qsh that is not for this URL', (url: string) => ({ token: sign(url, { qsh: 'context-qsh' }), url })],
      ['an expired token', (url: string) => ({ token: sign(url, { expSeconds: -5 }), url })],
      ['a token without exp', (url: string) => ({ token: sign(url, { noExp: true }), url })],
      ['the wrong secret', (url: string) => ({ token: sign(url, { secret: 'not-the-secret-at-all-0123456789' }), url })],
      ['alg none', (url: string) => ({ token: unsignedToken({ iss: tenant.clientKey, sub: alice, iat: 1, exp: 9999999999, qsh: 'x' }), url })],
      ["another tenant's secret", (url: string) => ({ token: sign(url, { secret: other.sharedSecret }), url })],
      ['an unknown clientKey', (url: string) => ({ token: sign(url, { clientKey: 'nobody' }), url })],
    ])('refuses %s with 401', async (_name, make) => {
      const { token, url } = make(macroUrl('100'));
      const res = await fetchWith(url, token);
      expect(res.status).toBe(401);
      expect(res.text).not.toContain(tenant.sharedSecret);
    });

    it('refuses a context JWT on a module URL (it is not bound to the URL)', async () => {
      const url = macroUrl('100');
      const token = contextToken({ clientKey: tenant.clientKey, secret: tenant.sharedSecret, accountId: alice });
      expect((await fetchWith(url, token)).status).toBe(401);
    });

    /** Past authentication, a decision with no body is refused as bad input (400): nothing is asked of Confluence. */
    const apiWith = (token: string) => request(app.baseUrl).post('/api/pages/100/workflows/m1/decisions').set('Authorization', `JWT ${token}`).send({});

    it('replaces the secret on reinstall: the old one stops working', async () => {
      // A context token the app has already verified (and keeps, for the requests that bring it again).
      const context = contextToken({ clientKey: tenant.clientKey, secret: tenant.sharedSecret, accountId: alice });
      expect((await apiWith(context)).status).toBe(400);
      expect((await apiWith(context)).status).toBe(400);
      const again = { ...tenant, sharedSecret: 'new-secret-0123456789-abcdefghijklmnop' };
      await signedInstall(again);
      expect((await apiWith(context)).status).toBe(401);
      expect((await apiWith(contextToken({ clientKey: tenant.clientKey, secret: again.sharedSecret, accountId: alice }))).status).toBe(400);
      const url = macroUrl('100');
      expect((await fetchWith(url, sign(url))).status).toBe(401);
      expect((await fetchWith(url, sign(url, { secret: again.sharedSecret }))).status).toBe(200);
      expect(await app.db('tenants').whereIn('client_key', [tenant.clientKey, other.clientKey]).count('* as n').first()).toEqual({ n: 2 });
      tenant.sharedSecret = again.sharedSecret;
    });

    it('uninstall keeps the data but stops the tenant’s JWTs', async () => {
      const context = contextToken({ clientKey: other.clientKey, secret: other.sharedSecret, accountId: alice });
      expect((await apiWith(context)).status).toBe(400);
      const token = signer.installToken({ path: '/uninstalled', addonBaseUrl: app.baseUrl, clientKey: other.clientKey });
      const res = await install({ ...other, eventType: 'uninstalled' }, token, '/uninstalled');
      expect(res.status).toBe(204);
      expect(await tenantRow(other.clientKey)).toMatchObject({ state: 'uninstalled' });
      const url = macroUrl('100');
      const t = pageToken({ url, addonBaseUrl: app.baseUrl, clientKey: other.clientKey, secret: other.sharedSecret, accountId: alice });
      expect((await fetchWith(url, t)).status).toBe(401);
      expect((await apiWith(context)).status).toBe(401);
    });

    it('refuses an unsigned uninstall', async () => {
      const res = await install({ ...tenant, eventType: 'uninstalled' }, undefined, '/uninstalled');
      expect(res.status).toBe(401);
      expect(await tenantRow(tenant.clientKey)).toMatchObject({ state: 'installed' });
    });
  });
});

describe('production mode', () => {
  let app: TestApp;
  const signer = new ConnectSigner();
  beforeAll(async () => {
    await signer.start();
    app = await startTestApp({ production: true });
    process.env.CONNECT_KEYS_CDN_URL = signer.keyServerUrl;
  });
  afterAll(async () => {
    await app?.close();
    await signer.stop();
  });

  it('refuses an install from a host outside the allow list (*.atlassian.net)', async () => {
    const payload = installPayload(`ck-${randomUUID()}`, 'https://confluence.evil.example/wiki');
    const token = signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: payload.clientKey });
    const res = await request(app.baseUrl).post('/installed').set('Authorization', `JWT ${token}`).send(payload);
    expect(res.status).toBe(401);
    expect(await app.db('tenants').where({ client_key: payload.clientKey }).first()).toBeUndefined();
  });

  it('accepts the same install from an atlassian.net site', async () => {
    const payload = installPayload(`ck-${randomUUID()}`, 'https://acme.atlassian.net/wiki');
    const token = signer.installToken({ path: '/installed', addonBaseUrl: app.baseUrl, clientKey: payload.clientKey });
    const res = await request(app.baseUrl).post('/installed').set('Authorization', `JWT ${token}`).send(payload);
    expect(res.status).toBe(204);
  });

  it('does not mount the devhost', async () => {
    expect((await request(app.baseUrl).get('/devhost')).status).toBe(404);
  });
});
