import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import { Router as createRouter } from 'express';
import type { Knex } from 'knex';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FAILING_CHECKS_SQL, UNSIGNED_TAILS_SQL } from '../audit/evidence-health-sql';
import { ListenerHealth, registerListenerGauges } from './listener-metrics';
import { MAX_ATTEMPTS } from '../webhooks/page-events-service';

/**
 * Prometheus metrics (prom-client) for operators: what people wait for (request durations by route and status),
 * the work the app does (audit appends counted in process; webhooks and scheduled jobs) and the health of the
 * evidence (age of the oldest unsigned event, tenants whose chain check failed, the webhook inbox backlog), read
 * from the database at scrape time so every instance reports the same truth. `/metrics` is served only with
 * ATTEST_METRICS_TOKEN set, behind `Authorization: Bearer <token>`: it names routes and tenants' counts, never
 * a tenant, a person or a token.
 */
export interface Metrics {
  registry: Registry;
  /** Express middleware: one observation per request, labelled by its route pattern (never its raw path). */
  httpMiddleware(req: Request, res: Response, next: NextFunction): void;
  /** The `/metrics` route (404 when no token is configured). */
  router: Router;
  /** The audit log's `onAppended`: one count per committed event. */
  appended(action: string): void;
  /** The audit log's `onHeadLockWait`: seconds from asking for a tenant's head lock to holding it. */
  headLockWait(seconds: number): void;
  /** The decisions' group commit (`BatchOptions.onBatch`): a batch's size, and how long its oldest decision waited (ms). */
  decisionBatch(size: number, waitedMs: number): void;
}

const ROUTE_UNMATCHED = 'unmatched';
/** The ages `attest_tenants_with_unsigned_events` counts tenants past: checkpoints run every 5 minutes. */
const UNSIGNED_AGES_SECONDS = [300, 900, 3600, 86400] as const;

export function createMetrics(opts: { db: Knex; token?: string; now?: () => number; listener?: ListenerHealth }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'attest_process_' });
  const now = opts.now ?? Date.now;
  registerDatabaseGauges(registry, opts.db, now);
  if (opts.listener) registerListenerGauges(registry, opts.listener);

  const httpDuration = new Histogram({
    name: 'attest_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const appends = new Counter({
    name: 'attest_audit_appends_total',
    help: 'Audit events appended (committed) by this instance, by action (decisions are decision.approved and decision.rejected)',
    labelNames: ['action'] as const,
    registers: [registry],
  });

  // Appends of one tenant queue on its head row: this is the queue, as each append saw it (one round trip included).
  const headLockWait = new Histogram({
    name: 'attest_audit_head_lock_wait_seconds',
    help: "Time an audit append waited for its tenant's head lock (the queue of that tenant's appends), including the locking statement's round trip",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  // Group commit (issue 15): how many decisions share a transaction, and how long one waits in this instance for
  // its batch to start (behind the tenant's running batch, or lingering for the decisions still being checked).
  const batchSize = new Histogram({
    name: 'attest_decision_batch_size',
    help: 'Decisions applied together in one transaction (group commit) by this instance',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const batchWait = new Histogram({
    name: 'attest_decision_batch_wait_seconds',
    help: "Time the oldest decision of a batch waited in this instance for the batch to start (behind the tenant's running batch, or for the decisions still being checked)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });

  const httpMiddleware = (req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : ROUTE_UNMATCHED;
      httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };

  const router = metricsRouter(registry, opts.token);

  return {
    registry,
    httpMiddleware,
    router,
    appended: (action) => appends.inc({ action }),
    headLockWait: (seconds) => headLockWait.observe(seconds),
    decisionBatch: (size, waitedMs) => {
      batchSize.observe(size);
      batchWait.observe(waitedMs / 1000);
    },
  };
}

/**
 * What the database says, read at scrape time (so every instance reports the same): the evidence's health,
 * the webhook inbox, scheduled job runs, and this instance's pool.
 */
function registerDatabaseGauges(registry: Registry, db: Knex, now: () => number): void {
  registerEvidenceGauges(registry, db, now);
  registerInboxGauges(registry, db, now);
  const opts = { db };
  const jobRuns = new Gauge({
    name: 'attest_scheduler_runs',
    help: 'Scheduled job runs in the last 24 hours by job and outcome',
    labelNames: ['job', 'outcome'] as const,
    registers: [registry],
    async collect() {
      const rows = await opts.db('job_runs')
        .where('started_at', '>', new Date(now() - 24 * 60 * 60 * 1000))
        .groupBy('job', 'outcome')
        .select('job', 'outcome')
        .count<{ job: string; outcome: string; n: string }[]>('* as n');
      jobRuns.reset();
      for (const r of rows) jobRuns.set({ job: r.job, outcome: r.outcome }, Number(r.n));
    },
  });

  const pool = new Gauge({
    name: 'attest_db_pool_connections',
    help: 'Database pool connections by state (used, free, pending acquires)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const p = (opts.db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
      if (!p) return;
      pool.set({ state: 'used' }, p.numUsed());
      pool.set({ state: 'free' }, p.numFree());
      pool.set({ state: 'pending' }, p.numPendingAcquires());
    },
  });

}

/**
 * The page webhook inbox of installed tenants: its backlog, the age of its oldest delivery, and deliveries that failed.
 * An uninstalled tenant's deliveries are left out: the retry job runs for installed tenants, and their Confluence no
 * longer answers the app, so they wait for a reinstall and would hold the gauges up for ever.
 */
function registerInboxGauges(registry: Registry, db: Knex, now: () => number): void {
  const opts = { db };
  const unprocessed = () => opts.db('page_events').whereNull('processed_at').whereIn('client_key', opts.db('tenants').where({ state: 'installed' }).select('client_key'));
  new Gauge({
    name: 'attest_webhook_inbox_unprocessed',
    help: 'Page webhook deliveries of installed tenants stored but not yet handled',
    registers: [registry],
    async collect() {
      const row = await unprocessed().count<{ n: string }[]>('* as n').first();
      this.set(Number(row?.n ?? 0));
    },
  });

  new Gauge({
    name: 'attest_webhook_inbox_oldest_unprocessed_seconds',
    help: 'Age of the oldest page webhook delivery not yet handled (0 when none)',
    registers: [registry],
    async collect() {
      const row = await unprocessed().min<{ t: Date | null }[]>('received_at as t').first();
      this.set(row?.t ? Math.max(0, (now() - new Date(row.t).getTime()) / 1000) : 0);
    },
  });

  const retries = new Gauge({
    name: 'attest_webhook_inbox_retries',
    help: `Page webhook deliveries not yet handled that failed at least once: retrying (retried by the scheduler) or given_up (${MAX_ATTEMPTS} attempts failed; applied only when the macro is next rendered or decided on)`,
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const row = await unprocessed()
        .andWhere('attempts', '>', 0)
        .select(opts.db.raw('count(*) filter (where attempts < ?) as retrying, count(*) filter (where attempts >= ?) as given_up', [MAX_ATTEMPTS, MAX_ATTEMPTS]))
        .first<{ retrying: string; given_up: string } | undefined>();
      retries.set({ state: 'retrying' }, Number(row?.retrying ?? 0));
      retries.set({ state: 'given_up' }, Number(row?.given_up ?? 0));
    },
  });
}

/** `/metrics`: 404 without a token configured, 401 without the right bearer token (compared in constant time). */
function metricsRouter(registry: Registry, token: string | undefined): Router {
  const router = createRouter();
  router.get('/metrics', async (req, res) => {
    if (!token) {
      res.status(404).json({ error: { message: 'Metrics are off: set ATTEST_METRICS_TOKEN to serve them.' } });
      return;
    }
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''), 'utf8');
    const expected = Buffer.from(token, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: { message: 'Metrics need Authorization: Bearer <ATTEST_METRICS_TOKEN>.' } });
      return;
    }
    try {
      const body = await registry.metrics();
      res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(body);
    } catch {
      res.status(503).set('Retry-After', '5').json({ error: { message: 'Metrics could not be read from the database right now.' } });
    }
  });

  return router;
}

/**
 * Over each installed tenant's oldest event that no signed checkpoint covers (for tenants that have one): the oldest
 * of them, and how many tenants' are older than each of UNSIGNED_AGES_SECONDS. An uninstalled tenant is left out:
 * its Confluence is the witness every checkpoint needs, so the events after its last checkpoint stay unsigned until
 * it is reinstalled, and no operator can change that (`attest checkpoints` still lists them).
 */
function unsignedEventsSql(ages: number): string {
  const counts = Array.from({ length: ages }, (_, i) => `, count(*) filter (where u.oldest < ?) as a${i}`).join('');
  return `select min(u.oldest) as t${counts}
    from (${UNSIGNED_TAILS_SQL}) u
    join tenants t on t.client_key = u.client_key and t.state = 'installed'
   where u.oldest is not null`;
}

/** The oldest event no signed checkpoint covers yet, and tenants whose latest chain check failed. */
function registerEvidenceGauges(registry: Registry, db: Knex, now: () => number): void {
  const opts = { db };
  // Both gauges below come from one scan of the tenants' heads: a scrape collects every metric at once, so the
  // second to ask shares the first one's read, and the next scrape reads again.
  let reading: Promise<{ oldest: Date | null; counts: number[] }> | null = null;
  const unsigned = () =>
    (reading ??= (async () => {
      const ages = UNSIGNED_AGES_SECONDS.map((s) => new Date(now() - s * 1000));
      const { rows } = await opts.db.raw(unsignedEventsSql(ages.length), ages);
      return { oldest: (rows[0]?.t as Date | null | undefined) ?? null, counts: ages.map((_, i) => Number(rows[0]?.[`a${i}`] ?? 0)) };
    })().finally(() => (reading = null)));

  new Gauge({
    name: 'attest_unsigned_events_oldest_seconds',
    help: "Age of the oldest audit event that no signed checkpoint covers yet, over all installed tenants (0 when all are signed): checkpoints run every 5 minutes, so a value past 15 minutes means signing is refused or delayed",
    registers: [registry],
    async collect() {
      const { oldest } = await unsigned();
      this.set(oldest ? Math.max(0, (now() - new Date(oldest).getTime()) / 1000) : 0);
    },
  });

  // Each tenant's unsigned backlog, counted rather than named (no tenant appears in a label): how many tenants have
  // an event no checkpoint covers older than each age. One stalled tenant among many shows here, not only as the max.
  const lagging = new Gauge({
    name: 'attest_tenants_with_unsigned_events',
    help: 'Installed tenants whose oldest audit event not yet covered by a signed checkpoint is older than older_than_seconds',
    labelNames: ['older_than_seconds'] as const,
    registers: [registry],
    async collect() {
      const { counts } = await unsigned();
      UNSIGNED_AGES_SECONDS.forEach((s, i) => lagging.set({ older_than_seconds: String(s) }, counts[i]));
    },
  });

  new Gauge({
    name: 'attest_verification_failed_tenants',
    help: 'Tenants whose chain check failed: a full check, or an incremental one that no later full check passed',
    registers: [registry],
    async collect() {
      const { rows } = await opts.db.raw(`select count(distinct client_key) as n from (${FAILING_CHECKS_SQL}) v`);
      this.set(Number(rows[0]?.n ?? 0));
    },
  });

}
