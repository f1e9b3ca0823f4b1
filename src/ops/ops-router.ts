import { Router } from 'express';
import type { Knex } from 'knex';
import { pendingMigrations } from '../db/knex';

/** Longer than this and /readyz says "unavailable": a probe must not hang on a pool waiting for a connection. */
export const READY_TIMEOUT_MS = 3_000;

/**
 * /healthz: the process answers. /readyz: the database answers and its schema is current — asked afresh for
 * every probe (nothing remembered), so it turns 200 again by itself once the database is back. Probes that come
 * while a check runs share it: /readyz needs no credentials, and a flood of probes must not become a flood of
 * queries on the pool the tenants' requests use (a check is five statements; one that timed out still runs).
 */
export function createOpsRouter(opts: { db: Knex; readyTimeoutMs?: number }): Router {
  const router = Router();
  const timeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  let running: Promise<string[]> | null = null;
  const readiness = (): Promise<string[]> => {
    if (!running) {
      const check = (async () => {
        await opts.db.raw('select 1');
        return pendingMigrations(opts.db);
      })();
      running = check;
      const done = () => {
        if (running === check) running = null;
      };
      check.then(done, done);
    }
    return running;
  };
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const check = readiness();
    try {
      const pending = await Promise.race([check, timedOut]);
      if (pending === 'timeout') {
        // The check goes on in the background; its outcome is for the next probe.
        check.catch(() => undefined);
        res.status(503).json({ status: 'unavailable', reason: 'database did not answer in time' });
      } else if (pending.length) {
        // How many, not which: the probe answers anyone.
        res.status(503).json({ status: 'unavailable', reason: 'migrations pending', pending: pending.length });
      } else {
        res.json({ status: 'ready' });
      }
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    } finally {
      clearTimeout(timer);
    }
  });
  return router;
}
