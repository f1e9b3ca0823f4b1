import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { freePort } from '../../src/db/embedded-postgres';
import { createKnex, Knex, migrateLatest } from '../../src/db/knex';
import { silentLogger } from '../../src/lib/logger';
import type { TestDatabase } from '../helpers/database';
import { ServerProcess, startServerProcess, urlServerProcess } from '../helpers/processes';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * A PostgreSQL restart under load. This file runs its own embedded PostgreSQL on a fixed port (so that it can
 * stop and start it where the clients expect it), two Attest server processes on it (as `npm start` runs
 * them, scheduler off, no devhost), and an in-process Attest whose devhost plays Confluence for both.
 * Concurrent clients decide with an Idempotency-Key each and retry on 503 (honouring Retry-After) or a lost
 * connection with the same key, a bounded number of times. Then: every acknowledged decision is recorded
 * exactly once, none twice, the audit chain verifies, no request was answered 500, /readyz of both servers is
 * 200 again without a restart, a webhook refused during the outage is stored once when Confluence sends it
 * again, a scheduled job whose tick failed runs on the next tick, and the servers' logs are JSON lines.
 */
const WORKERS = 16;
/** Load before the restart, how long PostgreSQL stays down, and load after /readyz is 200 again. */
const BEFORE_MS = 3_000;
const DOWN_MS = 2_500;
const AFTER_MS = 3_000;
const MAX_ATTEMPTS = 8;
const MAX_RETRY_WAIT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server extends ServerProcess {
  base: string;
}

function startServer(env: Record<string, string>): Server {
  return { ...startServerProcess(env), base: env.AC_LOCAL_BASE_URL };
}

interface Postgres {
  /** URL of the `postgres` database (the same after a restart: same port, same password). */
  adminUrl: string;
  /** Stops the server (fast shutdown: open sessions end with 57P01) and waits for its process to exit. */
  stop(): Promise<void>;
}

/**
 * An embedded PostgreSQL with its cluster in `dir`, on `port`, run by a child process (jest cannot load the
 * embedded-postgres ES module itself; see audit-cli.e2e.test.ts). Started again on the same dir and port,
 * it is the same server to its clients.
 */
async function startPostgres(dir: string, port: number): Promise<Postgres> {
  const script = `
    const { startEmbeddedPostgres } = require('./src/db/embedded-postgres.ts');
    const { silentLogger } = require('./src/lib/logger.ts');
    (async () => {
      const server = await startEmbeddedPostgres(process.env.PG_DIR, silentLogger(), { port: Number(process.env.PG_PORT) });
      process.stdout.write(server.url('postgres') + '\\n');
      process.stdin.resume();
      process.stdin.on('end', () => server.stop().then(() => process.exit(0)));
    })().catch((err) => { console.error(err); process.exit(3); });`;
  const { url, stop } = await urlServerProcess(script, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, PG_DIR: dir, PG_PORT: String(port) });
  return { adminUrl: url, stop };
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function waitReady(base: string, deadlineMs: number): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false)) return true;
    await sleep(100);
  }
  return false;
}

describe('a PostgreSQL restart under concurrent decisions on two server processes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-fault-'));
  const dataDirs: string[] = [];
  let pgPort = 0;
  let pg: Postgres | undefined;
  let db: Knex | undefined;
  let t: TestApp | undefined;
  const servers: Server[] = [];

  beforeAll(async () => {
    fs.chmodSync(dir, 0o755);
    pgPort = await freePort();
    pg = await startPostgres(dir, pgPort);
    const admin = new Client({ connectionString: pg.adminUrl });
    await admin.connect();
    await admin.query('create database attest');
    await admin.end();
    const url = withDatabase(pg.adminUrl, 'attest');
    db = createKnex(url, { poolMax: 5, logger: silentLogger() });
    await migrateLatest(db);
    const keys = {
      ATTEST_SECRET_KEY: randomBytes(32).toString('hex'),
      ATTEST_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const database: TestDatabase = { name: 'attest', url, db, pool: () => db!, drop: async () => undefined };
    t = await startTestApp({ database, env: keys });
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-fault-data-'));
      dataDirs.push(dataDir);
      servers.push(
        startServer({
          ...keys,
          NODE_ENV: 'development',
          PORT: String(port),
          AC_LOCAL_BASE_URL: `http://127.0.0.1:${port}`,
          DATA_DIR: dataDir,
          DATABASE_URL: url,
          DEVHOST: 'off',
          ATTEST_SCHEDULER: 'off',
          LOG_LEVEL: 'warn',
        }),
      );
    }
    for (const s of servers) expect([s.base, await waitReady(s.base, 40_000)]).toEqual([s.base, true]);
  }, 80_000);

  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await t?.close().catch(() => undefined);
    await db?.destroy().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    for (const d of [dir, ...dataDirs]) fs.rmSync(d, { recursive: true, force: true });
  }, 30_000);

  it('acknowledges every decision exactly once, answers 503 (never 500) while down, and recovers without a restart', async () => {
    const d = t!.devhost!;
    const alice = d.users.alice.accountId;
    const page = d.pages.releaseChecklist;
    const macroId = page.macroIds[0];
    // The macro rendered once creates the workflow (rule all: Alice's approvals alone keep it open).
    const rendered = await request(t!.baseUrl).get(d.macroUrl(alice, page.id, macroId).slice(t!.baseUrl.length));
    expect(rendered.status).toBe(200);
    const wf = await db!('workflows').where({ client_key: d.clientKey, page_id: page.id, macro_id: macroId }).first();

    const stats = { attempted: 0, acknowledged: 0, retries: 0, unavailable503: 0, networkErrors: 0, replayed: 0, gaveUp: 0, statuses: {} as Record<number, number>, unexpected: [] as string[] };
    const acknowledged: string[] = [];
    const unacknowledged: string[] = [];
    let stop = false;

    /** One click: the same key and body until it is answered with something other than 503 or a lost connection. */
    const decideOnce = async (comment: string, target: string): Promise<number | null> => {
      const key = randomUUID();
      const body = JSON.stringify({ decision: 'approve', comment, pageVersion: wf.bound_version });
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        if (attempt > 1) stats.retries++;
        let res: Response;
        try {
          res = await fetch(`${target}/api/pages/${page.id}/workflows/${macroId}/decisions`, {
            method: 'POST',
            headers: { Authorization: `JWT ${d.contextJwt(alice, { pageId: page.id })}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
            body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const text = await res.text();
          // What an unexpected answer said, for the failure message.
          if (res.status !== 201 && res.status !== 503) stats.unexpected.push(`${res.status} ${text.slice(0, 300)}`);
        } catch {
          stats.networkErrors++;
          await sleep(250);
          continue;
        }
        stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
        if (res.status === 503) {
          stats.unavailable503++;
          expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
          await sleep(Math.min(Number(res.headers.get('retry-after')) * 1000, MAX_RETRY_WAIT_MS));
          continue;
        }
        if (res.ok && acknowledged.length % 4 === 0) {
          // Now and then the answer is "lost" on purpose: the same click again gets the same answer, recorded once.
          const again = await fetch(`${target}/api/pages/${page.id}/workflows/${macroId}/decisions`, {
            method: 'POST',
            headers: { Authorization: `JWT ${d.contextJwt(alice, { pageId: page.id })}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
            body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }).catch(() => null);
          if (again && again.status === 201 && again.headers.get('idempotent-replayed') === 'true') stats.replayed++;
          await again?.arrayBuffer();
        }
        return res.status;
      }
      stats.gaveUp++;
      return null;
    };

    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 400; i++) {
        const comment = `fault-${w}-${i}`;
        stats.attempted++;
        const status = await decideOnce(comment, servers[(w + i) % servers.length].base);
        if (status !== null && status >= 200 && status < 300) {
          stats.acknowledged++;
          acknowledged.push(comment);
        } else unacknowledged.push(comment);
      }
    };

    const started = Date.now();
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(BEFORE_MS);

    // PostgreSQL stops (a fast shutdown: sessions end with 57P01) and comes back on the same port.
    await pg!.stop();
    const downAt = Date.now();
    const webhookPath = '/webhooks/page-updated';
    const delivery = d.webhook('page_updated', d.pages.postmortem.id, { as: alice });
    const sendWebhook = () =>
      fetch(`${servers[0].base}${webhookPath}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `JWT ${d.signRequest('POST', webhookPath)}` },
        body: JSON.stringify(delivery.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }).then((r) => r.status);
    const webhookWhileDown = await sendWebhook();
    const tickWhileDown = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const jobWhileDown = await t!.scheduler.runDue('recertification', tickWhileDown).then((r) => ({ result: r, error: null }), (err: Error) => ({ result: null, error: String(err?.message ?? err) }));
    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));
    pg = await startPostgres(dir, pgPort);
    const upAt = Date.now();
    const ready = await Promise.all(servers.map(async (s) => ((await waitReady(s.base, 30_000)) ? Date.now() - upAt : null)));
    await sleep(AFTER_MS);
    stop = true;
    await Promise.all(workers);
    const elapsed = Date.now() - started;

    // Confluence sends the refused webhook again: stored and handled once.
    const webhookAfter = await sendWebhook();
    await t!.pageEvents.settled();
    let events: Array<{ processed_at: Date | null }> = [];
    for (let i = 0; i < 50; i++) {
      events = await db!('page_events').where({ client_key: d.clientKey, page_id: d.pages.postmortem.id, event: 'page_updated' });
      if (events.length && events.every((e) => e.processed_at)) break;
      await sleep(100);
    }
    // The job whose tick failed while the database was away runs on the next tick, once.
    const nextTick = new Date(tickWhileDown.getTime() + 60_000);
    const jobAfter = await t!.scheduler.runDue('recertification', nextTick);
    const jobAgain = await t!.scheduler.runDue('recertification', nextTick);

    const rows: Array<{ comment: string; n: number }> = await db!('decisions')
      .where({ client_key: d.clientKey, workflow_id: wf.id })
      .andWhere('comment', 'like', 'fault-%')
      .groupBy('comment')
      .select('comment', db!.raw('count(*)::int as n'));
    const recorded = new Map(rows.map((r) => [r.comment, r.n]));
    const approvedEvents = await db!('audit_events').where({ client_key: d.clientKey, workflow_id: wf.id, action: 'decision.approved' }).count<{ count: number }[]>('* as count');
    const allDecisions = await db!('decisions').where({ client_key: d.clientKey, workflow_id: wf.id }).count<{ count: number }[]>('* as count');
    const keyed = await db!('decision_requests').where({ client_key: d.clientKey, workflow_id: wf.id }).count<{ count: number }[]>('* as count');
    const verified = await t!.audit.verify(db!, d.clientKey);

    const figures = { ...stats, recorded: rows.length, elapsedMs: elapsed, readyzAfterRestartMs: ready, webhookWhileDown, webhookAfter, jobWhileDown: jobWhileDown.error ?? jobWhileDown.result };
    process.stdout.write(`fault test figures: ${JSON.stringify(figures)}\n`);

    expect(stats.statuses[500] ?? 0).toBe(0);
    expect(stats.unexpected).toEqual([]);
    expect(Object.keys(stats.statuses).map(Number).filter((s) => s !== 201 && s !== 503)).toEqual([]);
    expect(stats.unavailable503 + stats.networkErrors).toBeGreaterThan(0);
    expect(stats.acknowledged).toBeGreaterThan(WORKERS);
    expect(stats.gaveUp).toBe(0);
    // Every acknowledged decision exactly once; nothing twice (retries and repeats carried the same key).
    for (const c of acknowledged) expect([c, recorded.get(c)]).toEqual([c, 1]);
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(rows.length).toBe(acknowledged.length + unacknowledged.filter((c) => recorded.has(c)).length);
    expect(stats.replayed).toBeGreaterThan(0);
    // Each decision has its audit event and its key, committed together.
    expect(Number(approvedEvents[0].count)).toBe(Number(allDecisions[0].count));
    expect(Number(keyed[0].count)).toBe(rows.length);
    expect(verified.ok).toBe(true);
    // Both servers are ready again, without a restart.
    expect(ready.every((ms) => ms !== null)).toBe(true);
    expect(servers.every((s) => s.child.exitCode === null)).toBe(true);
    // The webhook: refused (non-2xx) while down, stored once and handled when sent again.
    expect(webhookWhileDown).toBe(503);
    expect(webhookAfter).toBe(204);
    expect(events).toHaveLength(1);
    expect(events[0].processed_at).not.toBeNull();
    // The scheduled job: failed while down, then ran on the next tick and only once.
    if (jobWhileDown.error === null) expect(jobWhileDown.result).toMatchObject({ ran: true, outcome: 'failed' });
    else expect(jobWhileDown.error).toMatch(/ECONNREFUSED|terminat|Connection|starting up|shutting down/);
    expect(jobAfter).toMatchObject({ ran: true, outcome: 'ok' });
    expect(jobAgain).toEqual({ ran: false, reason: 'already-run' });
    // The servers' logs: one JSON object a line (no plain knex text, no "[object Object]").
    for (const s of servers) {
      const lines = s.output().split('\n').filter((l) => l.trim());
      const plain = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      expect(plain).toEqual([]);
      expect(s.output()).not.toContain('[object Object]');
      expect(s.output()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    }
  }, 90_000);
});
