import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { spaceKeySchema } from '../../confluence/confluence-ids';
import type { ConfluenceClient } from '../../confluence/confluence-client';
import { contextJwt, requireUser } from '../../confluence/connect-auth';
import type { Clock } from '../../lib/clock';
import { NotAllowedError } from '../../lib/errors';
import { asyncHandler, parseInput } from '../../lib/http';
import type { AuditLog } from '../audit-log';
import type { CheckpointTrail } from './checkpoint-trail';

const enableBody = z.object({ spaceKey: spaceKeySchema() }).strict();

/**
 * The checkpoint trail page (docs/threat-model.md): anyone signed in may see where it is; only a site admin
 * may start it, in a space of their choice, and that is an audit event like any other setting.
 */
export function createTrailRouter(opts: { addon: AddOn; trail: CheckpointTrail; confluence: ConfluenceClient; db: Knex; audit: AuditLog; clock: Clock }): Router {
  const { addon, trail, confluence, db, audit, clock } = opts;
  const router = Router();
  router.get(
    '/api/checkpoint-trail',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const [status, canEnable] = await Promise.all([trail.status(p.clientKey), confluence.isSiteAdmin(p.clientKey, p.accountId)]);
      res.set('Cache-Control', 'no-store').json({ ...status, canEnable: canEnable && !status.enabled });
    }),
  );
  router.post(
    '/api/checkpoint-trail',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(enableBody, req.body);
      if (!(await confluence.isSiteAdmin(p.clientKey, p.accountId))) {
        throw new NotAllowedError('Only Confluence site administrators can start the checkpoint trail: it covers the audit trail of the whole site.');
      }
      const { status, created } = await trail.enable(p.clientKey, spaceKey, clock.now());
      if (created) {
        await db.transaction((trx) =>
          audit.append(trx, p.clientKey, {
            action: 'checkpoint-trail.enabled',
            actor: { type: 'user', accountId: p.accountId },
            spaceKey,
            data: { space: spaceKey, url: status.url ?? null },
          }),
        );
      }
      res.status(created ? 201 : 200).json({ ...status, canEnable: false });
    }),
  );
  return router;
}
