import { Router, RequestHandler } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { z } from 'zod';
import type { AceStore } from '../db/ace-store';
import { InputError } from '../lib/errors';
import { asyncHandler, zodMessage } from '../lib/http';
import type { Logger } from '../lib/logger';
import { safeText, unsafeTextPath } from '../lib/safe-text';

/** ACE reads the host with url.parse, which throws on what WHATWG URL refuses: only http(s) URLs with a host get that far. */
const baseUrl = safeText({ min: 1, max: 2048, name: 'baseUrl' }).refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'baseUrl must be the http(s) URL of the Confluence site');

const installPayload = z
  .object({
    key: safeText({ min: 1, max: 64, name: 'key' }),
    clientKey: safeText({ min: 1, max: 255, name: 'clientKey' }),
    sharedSecret: safeText({ min: 1, max: 512, name: 'sharedSecret' }),
    baseUrl,
    eventType: safeText({ max: 64, name: 'eventType' }).optional(),
  })
  .passthrough();

/** Confluence sends the same payload on uninstall; the secret is not needed for it. */
const uninstallPayload = installPayload.extend({ sharedSecret: safeText({ max: 512, name: 'sharedSecret' }).optional() });

/**
 * Runs before ACE's install verification, which reads `baseUrl` and `clientKey` (and looks the tenant up)
 * before it checks the signature: a body it would choke on is a 400 that names the field. Unknown fields
 * are kept (the whole payload is stored as jsonb), so every string in them must be storable too.
 */
function validLifecycleBody(schema: typeof installPayload | typeof uninstallPayload): RequestHandler {
  return (req, _res, next) => {
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) return next(new InputError(`install payload: ${zodMessage(parsed.error)}`));
    const bad = unsafeTextPath(req.body, '', 8);
    if (bad) return next(new InputError(`install payload: ${bad} must be valid Unicode text without NUL characters`));
    next();
  };
}

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
    validLifecycleBody(installPayload),
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
    validLifecycleBody(uninstallPayload),
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
