import fs from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { tempDirs } from '../test/helpers/temp-dirs';
import { loadConfig } from './config';

const temps = tempDirs('attest-config-');
const tmp = () => temps.make();
afterAll(() => temps.removeAll());
const ed25519Pem = () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('loadConfig', () => {
  it('has working defaults outside production and generates both keys once, mode 0600', () => {
    const dir = tmp();
    const a = loadConfig({ DATA_DIR: dir });
    expect(a.port).toBe(3000);
    expect(a.localBaseUrl).toBe('http://localhost:3000');
    expect(a.devhost).toBe(true);
    expect(a.databaseUrl).toBeUndefined();
    for (const f of ['secret.key', 'signing-key.pem']) {
      expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    }
    const b = loadConfig({ DATA_DIR: dir });
    expect(b.secretKey.equals(a.secretKey)).toBe(true);
    expect(b.signingKey.export({ format: 'pem', type: 'pkcs8' })).toEqual(a.signingKey.export({ format: 'pem', type: 'pkcs8' }));
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT: must be a whole number/],
    [{ PORT: '70000' }, /^PORT: /],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must use postgres: or postgresql:/],
    [{ DATABASE_URL: 'not a url' }, /^DATABASE_URL: is not a valid URL/],
    [{ AC_LOCAL_BASE_URL: 'ftp://x' }, /^AC_LOCAL_BASE_URL: /],
    [{ ATTEST_SECRET_KEY: 'short' }, /^ATTEST_SECRET_KEY: must be 32 bytes/],
    [{ ATTEST_SIGNING_KEY: 'nope' }, /^ATTEST_SIGNING_KEY: is not a PEM private key/],
    [{ DEVHOST: 'maybe' }, /^DEVHOST: must be "on" or "off"/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ NODE_ENV: 'Production' }, /^NODE_ENV: must be one of development, test, production \(exactly, lower case\), got "Production"/],
    [{ NODE_ENV: 'prod' }, /^NODE_ENV: must be one of/],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV: must be one of/],
    [{ ATTEST_DECISION_BATCH: '0' }, /^ATTEST_DECISION_BATCH: must be the most decisions per transaction/],
    [{ ATTEST_DECISION_BATCH: '32,0' }, /^ATTEST_DECISION_BATCH: /],
    [{ ATTEST_DECISION_BATCH: 'lots' }, /^ATTEST_DECISION_BATCH: /],
    [{ ATTEST_DECISION_LINGER_MS: '-1' }, /^ATTEST_DECISION_LINGER_MS: must be the longest wait in milliseconds/],
    [{ ATTEST_DECISION_LINGER_MS: '5ms' }, /^ATTEST_DECISION_LINGER_MS: /],
  ])('names the variable and the problem: %j', (env, message) => {
    expect(() => loadConfig({ DATA_DIR: tmp(), ...env })).toThrow(message);
  });

  it('refuses an RSA key as the signing key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => loadConfig({ DATA_DIR: tmp(), ATTEST_SIGNING_KEY: rsa })).toThrow(/^ATTEST_SIGNING_KEY: must be an Ed25519 key/);
  });

  it('requires keys, database and public URL in production and turns the devhost off', () => {
    const dir = tmp();
    const prod = {
      NODE_ENV: 'production',
      DATA_DIR: dir,
      DATABASE_URL: 'postgres://u:p@db/attest',
      AC_LOCAL_BASE_URL: 'https://attest.example.com',
      ATTEST_SECRET_KEY: randomBytes(32).toString('base64'),
      ATTEST_SIGNING_KEY: ed25519Pem(),
    };
    const c = loadConfig(prod);
    expect(c.isProduction).toBe(true);
    expect(c.devhost).toBe(false);
    expect(c.host).toBe('0.0.0.0');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(() => loadConfig({ ...prod, ATTEST_SECRET_KEY: undefined })).toThrow(/^ATTEST_SECRET_KEY: is required in production/);
    expect(() => loadConfig({ ...prod, ATTEST_SIGNING_KEY: undefined })).toThrow(/^ATTEST_SIGNING_KEY: is required in production/);
    expect(() => loadConfig({ ...prod, DATABASE_URL: undefined })).toThrow(/^DATABASE_URL: is required in production/);
    expect(() => loadConfig({ ...prod, AC_LOCAL_BASE_URL: 'http://attest.example.com' })).toThrow(/^AC_LOCAL_BASE_URL: must use https:/);
  });

  it('listens on loopback outside production unless HOST says otherwise', () => {
    expect(loadConfig({ DATA_DIR: tmp() }).host).toBe('127.0.0.1');
    expect(loadConfig({ DATA_DIR: tmp(), NODE_ENV: 'test' }).host).toBe('127.0.0.1');
    expect(loadConfig({ DATA_DIR: tmp(), HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it("takes ACE's install-key server from CONNECT_KEYS_CDN_URL, the devhost's by default in development, ACE's own without", () => {
    expect(loadConfig({ DATA_DIR: tmp() }).connectKeysUrl).toBe('http://localhost:3000/devhost/connect-keys');
    expect(loadConfig({ DATA_DIR: tmp(), DEVHOST: 'off' }).connectKeysUrl).toBeUndefined();
    expect(loadConfig({ DATA_DIR: tmp(), CONNECT_KEYS_CDN_URL: 'http://127.0.0.1:9/keys' }).connectKeysUrl).toBe('http://127.0.0.1:9/keys');
    expect(() => loadConfig({ DATA_DIR: tmp(), CONNECT_KEYS_CDN_URL: 'keys' })).toThrow(/CONNECT_KEYS_CDN_URL: is not a valid URL/);
  });

  it('accepts a PEM given with literal \\n (as env files often carry it)', () => {
    const pem = ed25519Pem().replace(/\n/g, '\\n');
    expect(loadConfig({ DATA_DIR: tmp(), ATTEST_SIGNING_KEY: pem }).signingKey.asymmetricKeyType).toBe('ed25519');
  });

  it('groups a tenant\'s decisions 32 to a transaction, one such transaction at a time, lingering up to 50 ms, unless told otherwise', () => {
    const dir = tmp();
    expect(loadConfig({ DATA_DIR: dir }).decisionBatches).toEqual({ maxBatch: 32, maxConcurrent: 1, maxLingerMs: 50 });
    expect(loadConfig({ DATA_DIR: dir, ATTEST_DECISION_BATCH: '8,2', ATTEST_DECISION_LINGER_MS: '0' }).decisionBatches).toEqual({ maxBatch: 8, maxConcurrent: 2, maxLingerMs: 0 });
    // 1 turns group commit off: each decision alone, no limit on how many run at once, none waits for another.
    expect(loadConfig({ DATA_DIR: dir, ATTEST_DECISION_BATCH: '1', ATTEST_DECISION_LINGER_MS: '20' }).decisionBatches).toEqual({ maxBatch: 1, maxConcurrent: Infinity, maxLingerMs: 0 });
  });
});
