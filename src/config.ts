import { createPrivateKey, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_DECISION_BATCHES } from './approvals/decision-batches';

export interface Config {
  port: number;
  /** The interface to listen on: 127.0.0.1 outside production unless HOST says otherwise. */
  host: string;
  nodeEnv: string;
  isProduction: boolean;
  /** Unset: an embedded PostgreSQL is started in `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  /** The public base URL of this service (ACE's AC_LOCAL_BASE_URL). */
  localBaseUrl: string;
  /** 32 bytes; encrypts tenants' shared secrets at rest (AES-256-GCM). */
  secretKey: Buffer;
  /** Ed25519 private key that signs audit checkpoints. */
  signingKey: KeyObject;
  /** The local Confluence stand-in is mounted at /devhost. */
  devhost: boolean;
  logLevel: string;
  /** Hosts allowed to install (ACE's AC_HOST_WHITELIST); empty means ACE's default. */
  hostAllowList?: string;
  /** Base URL of Atlassian's personal data reporting API (`<url>/app/report-accounts`), ATTEST_PRIVACY_URL. */
  privacyUrl: string;
  /** Run the scheduled duties in this process (ATTEST_SCHEDULER, default on). */
  scheduler: boolean;
  /**
   * RFC 3161 timestamp authority that witnesses every checkpoint (ATTEST_TSA_URL) and the certificates
   * its tokens must be signed with (ATTEST_TSA_CERT, PEM). Unset: no TSA witness (development uses the devhost's).
   */
  tsa?: { url: string; certificatesPem: string[] };
  /** Bearer token for `/metrics` (ATTEST_METRICS_TOKEN); unset: metrics are not served. */
  metricsToken?: string;
  /**
   * Where ACE fetches the public keys that sign Confluence's install requests (its CONNECT_KEYS_CDN_URL);
   * unset: ACE's default, Atlassian's key server. With the devhost: the devhost's own.
   */
  connectKeysUrl?: string;
  /**
   * Group commit of a tenant's decisions (ATTEST_DECISION_BATCH, `max` or `max,concurrent`, default 32,1):
   * at most `max` decisions per transaction, at most `concurrent` (default 1) such transactions per tenant;
   * `1` = each decision alone, without a limit. `maxLingerMs` (ATTEST_DECISION_LINGER_MS, default 50, 0 = never):
   * the longest a decision reaching an idle tenant waits for the tenant's decisions still being checked.
   */
  decisionBatches: { maxBatch: number; maxConcurrent: number; maxLingerMs: number };
}

/** The development signing key's file in DATA_DIR (created by the server's first start, never by the CLI). */
export const DEV_SIGNING_KEY_FILE = 'signing-key.pem';

/** A configuration problem: the process prints this one line and stops. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * The variables read (every one a string when set). A list and not a zod schema: every `attest` command loads
 * this file, and zod is ~10 MB of an export's peak memory (issue 15).
 */
const ENV_KEYS = [
  'PORT',
  'HOST',
  'NODE_ENV',
  'DATABASE_URL',
  'DATA_DIR',
  'AC_LOCAL_BASE_URL',
  'ATTEST_SECRET_KEY',
  'ATTEST_SIGNING_KEY',
  'DEVHOST',
  'LOG_LEVEL',
  'AC_HOST_WHITELIST',
  'ATTEST_PRIVACY_URL',
  'ATTEST_SCHEDULER',
  'ATTEST_TSA_URL',
  'ATTEST_TSA_CERT',
  'ATTEST_METRICS_TOKEN',
  'CONNECT_KEYS_CDN_URL',
  'ATTEST_DECISION_BATCH',
  'ATTEST_DECISION_LINGER_MS',
] as const;

type Env = Record<string, string | undefined>;

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 3000;
  if (!/^\d+$/.test(raw) || Number(raw) < 0 || Number(raw) > 65535) {
    throw new ConfigError('PORT', `must be a whole number from 0 to 65535, got "${raw}"`);
  }
  return Number(raw);
}

function parseUrl(variable: string, raw: string, protocols: string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, 'is not a valid URL');
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `must use ${protocols.join(' or ')}, got ${url.protocol}`);
  }
  return raw;
}

/** Accepts 64 hex characters or base64 of exactly 32 bytes. */
export function parseSecretKey(raw: string): Buffer {
  const text = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const buf = Buffer.from(text, 'base64');
    if (buf.length === 32) return buf;
  }
  throw new ConfigError('ATTEST_SECRET_KEY', 'must be 32 bytes, written as 64 hex characters or base64');
}

export function parseSigningKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem.replace(/\\n/g, '\n'));
  } catch {
    throw new ConfigError('ATTEST_SIGNING_KEY', 'is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError('ATTEST_SIGNING_KEY', `must be an Ed25519 key, got ${key.asymmetricKeyType}`);
  }
  return key;
}

/** Reads a key file from the data directory, creating it (mode 0600) the first time. */
function keyFile(dataDir: string, name: string, create: () => string): string {
  const file = path.join(dataDir, name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, create(), { mode: 0o600, flag: 'wx' });
  }
  return fs.readFileSync(file, 'utf8');
}

/**
 * Everything but `production` turns on the devhost (which mints tokens for any user), generated keys and an
 * embedded database, so a misspelt `production` must stop the process rather than fall through to them.
 */
const NODE_ENVS = ['development', 'test', 'production'];

/**
 * The server's configuration: every key is required in production and, in development, made on first use.
 */
export function loadConfig(env: Env = process.env): Config {
  return loadConfigWith(env, 'create');
}

/** The operator CLI's: keys only where already given (env or an existing development key file), never made. */
export type CliConfig = Omit<Config, 'secretKey' | 'signingKey'> & { secretKey: Buffer | null; signingKey: KeyObject | null };

export function loadCliConfig(env: Env = process.env): CliConfig {
  return loadConfigWith(env, 'existing');
}

type ParsedEnv = Partial<Record<(typeof ENV_KEYS)[number], string>>;

/** The variables of ENV_KEYS that are set. */
function pickEnv(env: Env): ParsedEnv {
  const parsed: ParsedEnv = {};
  for (const key of ENV_KEYS) if (typeof env[key] === 'string') parsed[key] = env[key];
  return parsed;
}

/** The at-rest and signing keys: required in production; in development made on first use; for the CLI only where they exist. */
function keysOf(parsed: ParsedEnv, dataDir: string, isProduction: boolean, keys: 'create' | 'existing'): { secretKey: Buffer | null; signingKey: KeyObject | null } {
  let secretKey: Buffer | null;
  let signingKey: KeyObject | null;
  if (keys === 'existing') {
    const existing = (name: string) => {
      const file = path.join(dataDir, name);
      return !isProduction && fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    };
    const secret = parsed.ATTEST_SECRET_KEY ?? existing('secret.key');
    const signing = parsed.ATTEST_SIGNING_KEY ?? existing(DEV_SIGNING_KEY_FILE);
    secretKey = secret ? parseSecretKey(secret) : null;
    signingKey = signing ? parseSigningKey(signing) : null;
  } else if (isProduction) {
    if (!parsed.ATTEST_SECRET_KEY) throw new ConfigError('ATTEST_SECRET_KEY', 'is required in production');
    if (!parsed.ATTEST_SIGNING_KEY) throw new ConfigError('ATTEST_SIGNING_KEY', 'is required in production');
    secretKey = parseSecretKey(parsed.ATTEST_SECRET_KEY);
    signingKey = parseSigningKey(parsed.ATTEST_SIGNING_KEY);
  } else {
    secretKey = parseSecretKey(
      parsed.ATTEST_SECRET_KEY ?? keyFile(dataDir, 'secret.key', () => randomBytes(32).toString('hex') + '\n'),
    );
    signingKey = parseSigningKey(
      parsed.ATTEST_SIGNING_KEY ??
        keyFile(dataDir, DEV_SIGNING_KEY_FILE, () =>
          generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        ),
    );
  }
  return { secretKey, signingKey };
}

/** An on/off switch (on by default): on, off, true, false, 1 or 0. */
function onOff(name: string, value: string | undefined): boolean {
  const raw = (value ?? 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0'].includes(raw)) {
    throw new ConfigError(name, `must be "on" or "off", got "${value}"`);
  }
  return !['off', 'false', '0'].includes(raw);
}

function logLevelOf(value: string | undefined): string {
  const logLevel = value || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  return logLevel;
}

/** An RFC 3161 TSA and the certificate(s) its tokens must be signed with: both or neither. */
function tsaOf(parsed: ParsedEnv, isProduction: boolean): Config['tsa'] {
  let tsa: Config['tsa'];
  if (parsed.ATTEST_TSA_URL) {
    const url = parseUrl('ATTEST_TSA_URL', parsed.ATTEST_TSA_URL, isProduction ? ['https:', 'http:'] : ['http:', 'https:']);
    const pem = (parsed.ATTEST_TSA_CERT ?? '').replace(/\\n/g, '\n');
    const certificatesPem = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (!certificatesPem.length) throw new ConfigError('ATTEST_TSA_CERT', 'is required with ATTEST_TSA_URL: the PEM certificate(s) the TSA signs its tokens with');
    tsa = { url, certificatesPem };
  } else if (parsed.ATTEST_TSA_CERT) {
    throw new ConfigError('ATTEST_TSA_URL', 'is required with ATTEST_TSA_CERT');
  }
  return tsa;
}

function metricsTokenOf(value: string | undefined): string | undefined {
  const metricsToken = value || undefined;
  if (metricsToken !== undefined && (metricsToken.length < 16 || !/^[\x21-\x7e]+$/.test(metricsToken))) {
    throw new ConfigError('ATTEST_METRICS_TOKEN', 'must be at least 16 printable characters without spaces');
  }
  return metricsToken;
}

/** Group commit of a tenant's decisions: `N` or `N,M` (at most N per transaction, M such transactions at once). */
export function decisionBatchesOf(value: string | undefined, lingerRaw: string | undefined): Config['decisionBatches'] {
  const batchRaw = value ?? `${DEFAULT_DECISION_BATCHES.maxBatch},${DEFAULT_DECISION_BATCHES.maxConcurrent}`;
  const batchMatch = /^(\d{1,3})(?:,(\d{1,2}))?$/.exec(batchRaw);
  if (!batchMatch || Number(batchMatch[1]) < 1 || (batchMatch[2] !== undefined && Number(batchMatch[2]) < 1)) {
    throw new ConfigError('ATTEST_DECISION_BATCH', 'must be the most decisions per transaction, optionally with how many run at once: e.g. 32 or 32,2');
  }
  const maxBatch = Number(batchMatch[1]);
  if (lingerRaw !== undefined && !/^\d{1,4}$/.test(lingerRaw)) {
    throw new ConfigError('ATTEST_DECISION_LINGER_MS', `must be the longest wait in milliseconds (0 for none), got "${lingerRaw}"`);
  }
  // `1` alone turns group commit off: each decision in its own transaction, as many at once as arrive.
  const maxLingerMs = maxBatch === 1 ? 0 : lingerRaw === undefined ? DEFAULT_DECISION_BATCHES.maxLingerMs : Number(lingerRaw);
  return { maxBatch, maxConcurrent: batchMatch[2] !== undefined ? Number(batchMatch[2]) : maxBatch === 1 ? Infinity : 1, maxLingerMs };
}

function loadConfigWith(env: Env, keys: 'create'): Config;
function loadConfigWith(env: Env, keys: 'existing'): CliConfig;
function loadConfigWith(env: Env, keys: 'create' | 'existing'): Config | CliConfig {
  const parsed = pickEnv(env);
  const nodeEnv = parsed.NODE_ENV || 'development';
  if (!NODE_ENVS.includes(nodeEnv)) {
    throw new ConfigError('NODE_ENV', `must be one of ${NODE_ENVS.join(', ')} (exactly, lower case), got "${nodeEnv}"`);
  }
  const isProduction = nodeEnv === 'production';
  const port = parsePort(parsed.PORT);
  // Outside production the devhost is mounted: keep it off the network unless asked.
  const host = parsed.HOST || (isProduction ? '0.0.0.0' : '127.0.0.1');
  const dataDir = path.resolve(parsed.DATA_DIR || './.data');

  const databaseUrl = parsed.DATABASE_URL
    ? parseUrl('DATABASE_URL', parsed.DATABASE_URL, ['postgres:', 'postgresql:'])
    : undefined;
  if (isProduction && !databaseUrl) {
    throw new ConfigError('DATABASE_URL', 'is required in production (the embedded PostgreSQL is for development)');
  }

  const localBaseUrl = (
    parsed.AC_LOCAL_BASE_URL
      ? parseUrl('AC_LOCAL_BASE_URL', parsed.AC_LOCAL_BASE_URL, isProduction ? ['https:'] : ['http:', 'https:'])
      : `http://localhost:${port}`
  ).replace(/\/$/, '');
  if (isProduction && !parsed.AC_LOCAL_BASE_URL) {
    throw new ConfigError('AC_LOCAL_BASE_URL', 'is required in production (the public https URL of this service)');
  }

  const { secretKey, signingKey } = keysOf(parsed, dataDir, isProduction, keys);

  const devhost = onOff('DEVHOST', parsed.DEVHOST) && !isProduction;

  const logLevel = logLevelOf(parsed.LOG_LEVEL);

  // The devhost emulates the reporting API; elsewhere Atlassian's host (the exact one is unconfirmed).
  const privacyUrl = (
    parsed.ATTEST_PRIVACY_URL
      ? parseUrl('ATTEST_PRIVACY_URL', parsed.ATTEST_PRIVACY_URL, isProduction ? ['https:'] : ['http:', 'https:'])
      : devhost
        ? `${localBaseUrl}/devhost`
        : 'https://api.atlassian.com'
  ).replace(/\/$/, '');
  return {
    port,
    host,
    nodeEnv,
    isProduction,
    databaseUrl,
    dataDir,
    localBaseUrl,
    secretKey,
    signingKey,
    devhost,
    logLevel,
    hostAllowList: parsed.AC_HOST_WHITELIST,
    privacyUrl,
    scheduler: onOff('ATTEST_SCHEDULER', parsed.ATTEST_SCHEDULER),
    tsa: tsaOf(parsed, isProduction),
    metricsToken: metricsTokenOf(parsed.ATTEST_METRICS_TOKEN),
    connectKeysUrl: parsed.CONNECT_KEYS_CDN_URL
      ? parseUrl('CONNECT_KEYS_CDN_URL', parsed.CONNECT_KEYS_CDN_URL, isProduction ? ['https:'] : ['http:', 'https:'])
      : devhost
        ? `${localBaseUrl}/devhost/connect-keys`
        : undefined,
    decisionBatches: decisionBatchesOf(parsed.ATTEST_DECISION_BATCH, parsed.ATTEST_DECISION_LINGER_MS),
  };
}
