import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { z } from 'zod';
import { spaceKeySchema } from '../../confluence/confluence-ids';
import { contextJwt, requireUser } from '../../confluence/connect-auth';
import { asyncHandler, parseInput } from '../../lib/http';
import type { TrailService } from './trail-service';

const enableBody = z.object({ spaceKey: spaceKeySchema() }).strict();

/** The checkpoint trail page's API: its status for anyone signed in, starting it for site admins (TrailService). */
export function createTrailRouter(opts: { addon: AddOn; service: TrailService }): Router {
  const { addon, service } = opts;
  const router = Router();
  router.get(
    '/api/checkpoint-trail',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      res.set('Cache-Control', 'no-store').json(await service.status(requireUser(req)));
    }),
  );
  router.post(
    '/api/checkpoint-trail',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(enableBody, req.body);
      const { status, created } = await service.enable(p, spaceKey);
      res.status(created ? 201 : 200).json(status);
    }),
  );
  return router;
}
