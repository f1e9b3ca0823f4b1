import { Router, RequestHandler } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { z } from 'zod';
import type { AceStore } from '../db/ace-store';
import { InputError } from '../lib/errors';
import { asyncHandler, zodMessage } from '../lib/http';
import type { Logger } from '../lib/logger';

const installPayload = z
  .object({
    key: z.string().min(1),
    clientKey: z.string().min(1).max(255),
    sharedSecret: z.string().min(1),
    baseUrl: z.string().url(),
    eventType: z.string().optional(),
  })
  .passthrough();

/**
 * /installed: ACE verifies the RS256 signed install (key from the Connect key server, aud = our
 * baseUrl, iss = body clientKey, host allow list); we validate the payload and store the tenant.
 * A reinstall replaces the secret; a new clientKey is a new tenant.
 * /uninstalled: same verification; the tenant is marked uninstalled and its data is kept.
 */
export function createLifecycleRouter(opts: { addon: AddOn; store: AceStore; logger: Logger }): Router {
  const { addon, store, logger } = opts;
  const router = Router();

  router.post(
    '/installed',
    addon.verifyInstallation() as RequestHandler,
    asyncHandler(async (req, res) => {
      const parsed = installPayload.safeParse(req.body);
      if (!parsed.success) throw new InputError(`install payload: ${zodMessage(parsed.error)}`);
      if (parsed.data.key !== addon.key) throw new InputError(`install payload is for app "${parsed.data.key}", not "${addon.key}"`);
      const before = await store.tenantState(parsed.data.clientKey);
      await store.saveInstallation(parsed.data, parsed.data.clientKey);
      logger.info(
        { clientKey: parsed.data.clientKey, baseUrl: parsed.data.baseUrl, reinstall: before !== null },
        'installed',
      );
      res.status(204).end();
    }),
  );

  router.post(
    '/uninstalled',
    addon.authenticateInstall() as RequestHandler,
    asyncHandler(async (req, res) => {
      const clientKey = String(req.body?.clientKey ?? '');
      const known = await store.markUninstalled(clientKey);
      logger.info({ clientKey, known }, 'uninstalled; data kept');
      res.status(204).end();
    }),
  );

  return router;
}
