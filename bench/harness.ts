import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp, AttestApp } from '../src/app';
import { loadConfig } from '../src/config';
import type { Knex } from '../src/db/knex';
import { benchDatabase } from './bench-database';
import { createLogger, silentLogger } from '../src/lib/logger';

/** `/metrics` is served with this token in benchmarks, so that a bench can read the app's own figures. */
export const BENCH_METRICS_TOKEN = 'bench-metrics-token-0123456789';

export interface BenchEnv {
  attest: AttestApp;
  baseUrl: string;
  db: Knex;
  dbUrl: string;
  /** The data directory of the in-process instance (its keys; a second instance must share them). */
  dataDir: string;
  /** The embedded PostgreSQL's cluster directory (for `postgresCpuMs`; nothing there on DATABASE_URL's server). */
  pgData: string;
  server: http.Server;
  close(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..');

/** Another app instance: `src/server.ts` in its own process, on another port, against the same database. */
export interface ExtraInstance {
  baseUrl: string;
  pid: number;
  /** CPU seconds (user + system) the process has used so far, from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * A second (third…) instance as production runs one: `node --import tsx src/server.ts` with the same
 * DATABASE_URL and keys (DATA_DIR), no devhost (the tenants' Confluence stays the first instance's devhost),
 * no scheduler, metrics behind the bench token, and the server's own pool (10 connections, as in production). Resolves once `/readyz` answers, within 90 s.
 */
export async function startExtraInstance(env: BenchEnv): Promise<ExtraInstance> {
  const port = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  let out = '';
  // BENCH_APP_NODE_FLAGS: node flags for the app's processes (space-separated), to measure V8 settings.
  const nodeFlags = (process.env.BENCH_APP_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, ...(process.env.BENCH_CHILD_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CHILD_PROF}`] : []), '--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
      AC_LOCAL_BASE_URL: baseUrl,
      DATABASE_URL: env.dbUrl,
      DATA_DIR: env.dataDir,
      DEVHOST: 'off',
      ATTEST_SCHEDULER: 'off',
      LOG_LEVEL: process.env.BENCH_LOG ? 'warn' : 'silent',
      ATTEST_METRICS_TOKEN: BENCH_METRICS_TOKEN,
      ...(process.env.ATTEST_DECISION_BATCH ? { ATTEST_DECISION_BATCH: process.env.ATTEST_DECISION_BATCH } : {}),
      ...(process.env.ATTEST_DECISION_LINGER_MS ? { ATTEST_DECISION_LINGER_MS: process.env.ATTEST_DECISION_LINGER_MS } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
  child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // A bench that fails (a request answered 500, say) exits without `stop`: its instances go with it, not on running.
  const orphaned = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', orphaned);
  void exited.then(() => process.off('exit', orphaned));
  let stopping = false;
  // An instance that dies mid-run says why (its last output), instead of the clients' bare "socket hang up".
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`app instance ${baseUrl} exited (${code ?? signal}); its last output:\n${out}\n`);
  });
  let ready = false;
  for (let i = 0; i < 360 && !ready && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ready = await fetch(`${baseUrl}/readyz`).then((r) => r.ok, () => false);
  }
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`the extra instance did not start:\n${out}`);
  }
  return {
    baseUrl,
    pid: child.pid!,
    cpuSeconds() {
      return (procStat(child.pid!)?.ticks ?? 0) / CLOCK_TICKS;
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Counts the SQL statements knex sends (its `query` events) while `on`, and how often each text was sent. */
export function statementCounter(db: Knex): { start(): void; stop(): number; texts(): Array<[string, number]> } {
  let n = 0;
  const byText = new Map<string, number>();
  const count = (q: { sql?: string }) => {
    n++;
    const text = (q.sql ?? '').replace(/\s+/g, ' ').slice(0, 90);
    byText.set(text, (byText.get(text) ?? 0) + 1);
  };
  return {
    start() {
      n = 0;
      byText.clear();
      db.on('query', count);
    },
    stop() {
      db.removeListener('query', count);
      return n;
    },
    texts: () => [...byText.entries()].sort((a, b) => b[1] - a[1]),
  };
}

/**
 * The whole add-on as `npm start` runs it (real PostgreSQL, devhost installed over HTTP) on a
 * loopback port, for benchmarks. DATABASE_URL is used when set (it must allow CREATE DATABASE).
 */
export async function startBenchEnv(): Promise<BenchEnv> {
  const bench = await benchDatabase('bench-app', { poolMax: 40 });
  const { db, url: dbUrl, dir, pgData } = bench;

  const server = http.createServer();
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: path.join(dir, 'data'), DATABASE_URL: dbUrl, AC_LOCAL_BASE_URL: baseUrl, LOG_LEVEL: 'silent', ATTEST_METRICS_TOKEN: BENCH_METRICS_TOKEN, ATTEST_DECISION_BATCH: process.env.ATTEST_DECISION_BATCH, ATTEST_DECISION_LINGER_MS: process.env.ATTEST_DECISION_LINGER_MS });
  process.env.CONNECT_KEYS_CDN_URL = `${baseUrl}/devhost/connect-keys`;
  const attest = await createApp({ config, db, logger: process.env.BENCH_LOG ? createLogger({ level: 'warn' }) : silentLogger() });
  server.on('request', attest.app);
  await attest.devhost!.install();
  return {
    attest,
    baseUrl,
    db,
    dbUrl,
    dataDir: path.join(dir, 'data'),
    pgData,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await attest.close();
      await bench.close();
    },
  };
}

/**
 * Runs `worker(i)` from `clients` concurrent loops until `total` calls are done or `maxMs` passes
 * (bounded in count and time). Returns calls per second and latency percentiles.
 */
export async function load(
  clients: number,
  total: number,
  maxMs: number,
  worker: (client: number, n: number) => Promise<void>,
  keepLatencies = false,
): Promise<{ done: number; seconds: number; perSecond: number; p50: number; p99: number; latencies?: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (next < total && performance.now() - started < maxMs) {
        const n = next++;
        const t0 = performance.now();
        await worker(client, n);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { done: latencies.length, seconds, perSecond: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), ...(keepLatencies ? { latencies } : {}) };
}

export function row(name: string, r: { done: number; seconds: number; perSecond: number; p50: number; p99: number }): string {
  return `${name.padEnd(44)} ${String(r.done).padStart(7)} ops ${r.seconds.toFixed(2).padStart(7)} s ${r.perSecond.toFixed(0).padStart(8)}/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms`;
}

/**
 * `BENCH_CPU_PROFILE=file.cpuprofile`: a V8 CPU profile of this process over the measured window only (not the
 * set-up or the baseline), for Chrome DevTools or any `.cpuprofile` reader. Without the variable, nothing.
 */
export async function profileWindow(): Promise<{ stop(): Promise<void> }> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return { stop: async () => undefined };
  const inspector = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** CPU time every process of the machine has used (ms, from /proc/stat: user, nice, system, irq, softirq, steal). */
export function machineCpuMs(): number {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / CLOCK_TICKS;
}

/** A process's parent and CPU ticks so far (utime + stime) from /proc/<pid>/stat; null once it is gone. */
function procStat(pid: number): { ppid: number; ticks: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // After the parenthesised command name: state, ppid, …, utime (14th field), stime (15th).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/**
 * CPU time (ms) the embedded PostgreSQL whose data directory is `pgData` has used so far — its postmaster and every
 * process it started (backends, WAL writer, checkpointer…), from /proc; null on a server of DATABASE_URL's (no
 * postmaster.pid here). A backend that has exited takes its time with it: read it while the pool's connections live.
 */
function postgresCpuMs(pgData: string): number | null {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = procStat(Number(entry));
    if (p && (Number(entry) === postmaster || p.ppid === postmaster)) ticks += p.ticks;
  }
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Starts counting the machine's and the embedded PostgreSQL's CPU; the function returned gives the ms each used since. */
export function cpuMeter(pgData: string): () => { machineMs: number; postgresMs: number | null } {
  const machine = machineCpuMs();
  const postgres = postgresCpuMs(pgData);
  return () => {
    const postgresNow = postgresCpuMs(pgData);
    return { machineMs: machineCpuMs() - machine, postgresMs: postgres === null || postgresNow === null ? null : postgresNow - postgres };
  };
}

/**
 * The decision benches' baseline: a table of its own, and a worker that inserts one row of `rowLength` characters
 * for `clientKey` and commits it (a knex transaction, as the app's plainest write would be).
 */
export async function plainInserts(db: Knex, clientKey: string, rowLength: number): Promise<() => Promise<void>> {
  const payload = 'x'.repeat(rowLength);
  await db.raw('create table bench_plain (id bigserial primary key, client_key text, payload text, at timestamptz default now())');
  return async () => {
    await db.transaction(async (trx) => {
      await trx('bench_plain').insert({ client_key: clientKey, payload });
    });
  };
}

/** `--name=N` from the command line (or `fallback`): a whole number from 1 to `max`, else an error that says so. */
export function intOption(name: string, fallback: number, max: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be a whole number from 1 to ${max}`);
  return value;
}
