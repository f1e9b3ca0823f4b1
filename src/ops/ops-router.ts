import { Router } from 'express';
import type { Knex } from 'knex';
import { pendingMigrations } from '../db/knex';

/** /healthz: the process answers. /readyz: the database answers and its schema is current. */
export function createOpsRouter(opts: { db: Knex }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await opts.db.raw('select 1');
      const pending = await pendingMigrations(opts.db);
      if (pending.length) {
        res.status(503).json({ status: 'unavailable', reason: 'migrations pending', pending });
        return;
      }
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  return router;
}
