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
  server: http.Server;
  close(): Promise<void>;
}

/**
 * The whole add-on as `npm start` runs it (real PostgreSQL, devhost installed over HTTP) on a
 * loopback port, for benchmarks. DATABASE_URL is used when set (it must allow CREATE DATABASE).
 */
export async function startBenchEnv(): Promise<BenchEnv> {
  const bench = await benchDatabase('bench-app', { poolMax: 40 });
  const { db, url: dbUrl, dir } = bench;

  const server = http.createServer();
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: path.join(dir, 'data'), DATABASE_URL: dbUrl, AC_LOCAL_BASE_URL: baseUrl, LOG_LEVEL: 'silent', ATTEST_METRICS_TOKEN: BENCH_METRICS_TOKEN, ATTEST_DECISION_BATCH: process.env.ATTEST_DECISION_BATCH });
  process.env.CONNECT_KEYS_CDN_URL = `${baseUrl}/devhost/connect-keys`;
  const attest = await createApp({ config, db, logger: process.env.BENCH_LOG ? createLogger({ level: 'warn' }) : silentLogger() });
  server.on('request', attest.app);
  await attest.devhost!.install();
  return {
    attest,
    baseUrl,
    db,
    dbUrl,
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
