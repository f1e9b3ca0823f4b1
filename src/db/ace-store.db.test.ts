import { randomBytes } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { SecretBox } from '../lib/secret-box';
import { AceStore } from './ace-store';

describe('AceStore (ACE settings on PostgreSQL)', () => {
  let tdb: TestDatabase;
  let store: AceStore;
  const info = (clientKey: string, sharedSecret = 'secret-' + clientKey) => ({
    key: 'io.attest.confluence',
    clientKey,
    sharedSecret,
    baseUrl: `https://${clientKey}.atlassian.net/wiki`,
    productType: 'confluence',
    serverVersion: '1',
  });

  beforeAll(async () => {
    tdb = await createTestDatabase();
    store = new AceStore(tdb.db, new SecretBox(randomBytes(32)));
  });
  afterAll(() => tdb.drop());

  it('stores clientInfo with the secret sealed and hands it back whole', async () => {
    const saved = await store.saveInstallation(info('a'), 'a');
    expect(saved).toMatchObject(info('a'));
    const row = await tdb.db('tenants').where({ client_key: 'a' }).first();
    expect(row.shared_secret_enc).toBeInstanceOf(Buffer);
    expect(JSON.stringify(row)).not.toContain('secret-a');
    expect(row.install_payload).toEqual({ key: 'io.attest.confluence', clientKey: 'a', baseUrl: 'https://a.atlassian.net/wiki', productType: 'confluence', serverVersion: '1' });
  });

  it('keeps other keys in addon_settings, per tenant', async () => {
    await store.set('foo', { x: 1 }, 'a');
    await store.set('foo', { x: 2 }, 'b');
    expect(await store.get('foo', 'a')).toEqual({ x: 1 });
    expect(await store.get('foo', 'b')).toEqual({ x: 2 });
    await store.del('foo', 'a');
    expect(await store.get('foo', 'a')).toBeNull();
    expect(await store.get('foo', 'b')).toEqual({ x: 2 });
  });

  it('lists installed tenants; an uninstalled one is kept but invisible to ACE', async () => {
    await store.saveInstallation(info('b'), 'b');
    expect((await store.getAllClientInfos()).map((c) => c.clientKey)).toEqual(['a', 'b']);
    await store.del('clientInfo', 'b');
    expect(await store.get('clientInfo', 'b')).toBeNull();
    expect(await store.tenantState('b')).toBe('uninstalled');
    expect((await store.getAllClientInfos()).map((c) => c.clientKey)).toEqual(['a']);
    // reinstall brings it back with the new secret
    await store.saveInstallation(info('b', 'new-secret'), 'b');
    expect(await store.get('clientInfo', 'b')).toMatchObject({ sharedSecret: 'new-secret' });
  });

  it('refuses a clientInfo whose clientKey disagrees with the key it is stored under', async () => {
    await expect(store.set('clientInfo', info('c'), 'd')).rejects.toThrow(/does not match/);
  });

  it('says which key is wrong when another ATTEST_SECRET_KEY reads the tenants', async () => {
    const other = new AceStore(tdb.db, new SecretBox(randomBytes(32)));
    await expect(other.get('clientInfo', 'a')).rejects.toThrow(/ATTEST_SECRET_KEY is not the key it was stored with/);
  });

  it('answers Forge calls with a clear "not supported"', async () => {
    await expect(store.getClientSettingsForForgeInstallation()).rejects.toThrow(/not supported/);
    expect(() => store.forForgeInstallation()).toThrow(/not supported/);
    expect(store.isMemoryStore()).toBe(false);
  });
});
