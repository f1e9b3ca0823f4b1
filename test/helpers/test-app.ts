import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp, AttestApp } from '../../src/app';
import type { ExportLimits } from '../../src/evidence/export-limits';
import { applyServerTimeouts } from '../../src/lib/http';
import { Config, loadConfig } from '../../src/config';
import type { Clock } from '../../src/lib/clock';
import { silentLogger } from '../../src/lib/logger';
import { createTestDatabase, TestDatabase } from './database';

export interface TestApp extends AttestApp {
  /** http://127.0.0.1:PORT — the add-on's base URL. */
  baseUrl: string;
  config: Config;
  tdb: TestDatabase;
  db: TestDatabase['db'];
  server: http.Server;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Extra environment for loadConfig. */
  env?: Record<string, string>;
  /** Mount the devhost (default true) and perform its signed install (default true). */
  devhost?: boolean;
  install?: boolean;
  /** Run ACE in production mode (host allow list *.atlassian.net, no devhost). */
  production?: boolean;
  clock?: Clock;
  /** The clock audit events record their time by (default: the system clock). */
  auditClock?: Clock;
  /** Reuse a database (several app instances on one database). */
  database?: TestDatabase;
  exportLimits?: Partial<ExportLimits>;
}

/** The whole add-on on a real port and a fresh database, with the devhost installed into it. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const tdb = opts.database ?? (await createTestDatabase());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-test-data-'));
  const server = http.createServer();
  applyServerTimeouts(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const wantDevhost = opts.devhost !== false && !opts.production;
  let config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: tdb.url,
    AC_LOCAL_BASE_URL: baseUrl,
    DEVHOST: wantDevhost ? 'on' : 'off',
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  if (opts.production) config = { ...config, isProduction: true, devhost: false };
  if (wantDevhost) process.env.CONNECT_KEYS_CDN_URL = `${baseUrl}/devhost/connect-keys`;
  const attest = await createApp({ config, db: tdb.db, logger: silentLogger(), clock: opts.clock, auditClock: opts.auditClock, exportLimits: opts.exportLimits });
  server.on('request', attest.app);
  if (attest.devhost && opts.install !== false) await attest.devhost.install();
  return {
    ...attest,
    baseUrl,
    config,
    tdb,
    db: tdb.db,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await attest.close();
      if (!opts.database) await tdb.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
