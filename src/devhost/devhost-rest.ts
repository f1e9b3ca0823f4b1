/**
 * Confluence's REST API as the add-on uses it, under a tenant base URL (`/devhost/wiki`): the add-on's JWT
 * checked on every call and recorded, then one module per concern (users and groups, content, spaces and app
 * properties), and Confluence-shaped errors.
 */
import { NextFunction, Request, Response, Router } from 'express';
import type { Logger } from '../lib/logger';
import { DevhostError, DevhostStore } from './devhost-state';
import { verifyAddonJwt } from './devhost-jwt';
import { gone, RestContext, TenantRequest } from './devhost-rest-common';
import { mountContent } from './devhost-rest-content';
import { mountSpacesAndProperties } from './devhost-rest-spaces';
import { mountUsersAndGroups } from './devhost-rest-users';

/** One REST call the add-on made, for tests that assert it called with a verified JWT. */
export interface RestCallRecord {
  method: string;
  /** Path relative to the tenant base URL, with the query string. */
  path: string;
  /** The tenant whose JWT verified; null when verification failed. */
  clientKey: string | null;
  status: number;
}

export function createRestRouter(opts: {
  store: DevhostStore;
  addonKey: string;
  logger: Logger;
  restCalls: RestCallRecord[];
  /** Paths (relative to the tenant base) that answer 410 Gone, as endpoints Atlassian removes do. */
  goneEndpoints?: Set<string>;
  /** How long a call waits before it is answered (Devhost.setRestLatency). */
  latency?: { ms: number };
}): Router {
  const { store, restCalls } = opts;
  const router = Router();

  // The tenant base path is where this router is mounted (req.baseUrl); the tenant must own it.
  router.use((req: Request, res: Response, next: NextFunction) => {
    // Only the REST API lives here; the browser pages under the same base are another router's.
    if (!/^\/(rest\/api|api\/v2|rest\/atlassian-connect\/1)\//.test(req.path)) return next('router');
    const rel = req.originalUrl.slice(req.baseUrl.length);
    const record: RestCallRecord = { method: req.method, path: rel, clientKey: null, status: 0 };
    restCalls.push(record);
    if (restCalls.length > 500) restCalls.splice(0, restCalls.length - 500);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    try {
      const tenant = verifyAddonJwt(
        { method: req.method, path: req.originalUrl.split('?')[0], query: req.query as Record<string, unknown>, authorization: req.headers.authorization },
        (clientKey) => store.tenant(clientKey),
        opts.addonKey,
      );
      if (new URL(tenant.baseUrl).pathname !== req.baseUrl) throw new DevhostError(401, 'The JWT belongs to another site');
      record.clientKey = tenant.clientKey;
      (req as TenantRequest).devhostTenant = tenant;
      if ([...(opts.goneEndpoints ?? [])].some((prefix) => rel.startsWith(prefix))) return gone(req, res);
      if (opts.latency?.ms) setTimeout(next, opts.latency.ms);
      else next();
    } catch (err) {
      next(err);
    }
  });

  const base = (req: Request) => (req as TenantRequest).devhostTenant.baseUrl;
  const contextPath = (req: Request) => new URL(base(req)).pathname;

  // ---- v1 content: removed by Atlassian (CHANGE-864); Confluence answers 410 Gone ----

  router.get('/rest/api/content', gone);
  router.post('/rest/api/content', gone);
  router.get('/rest/api/content/:id', gone);
  router.put('/rest/api/content/:id', gone);
  router.get('/rest/api/content/:id/version/:n', gone);
  router.get('/rest/api/content/:id/child/comment', gone);
  router.get('/rest/api/space/:key', gone);

  const ctx: RestContext = { store, addonKey: opts.addonKey, logger: opts.logger, base, contextPath };
  mountUsersAndGroups(router, ctx);
  mountContent(router, ctx);
  mountSpacesAndProperties(router, ctx);

  router.use((req: Request, _res: Response, next: NextFunction) => next(new DevhostError(404, `null for uri: ${base(req)}${req.path}`)));

  // Confluence-like error JSON (v2 routes answer in v2's error shape).
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof DevhostError ? err.statusCode : (err as { type?: string }).type === 'entity.parse.failed' ? 400 : 500;
    const message = err instanceof DevhostError ? err.message : status === 400 ? 'Could not parse the request body' : 'Internal server error';
    if (status >= 500) opts.logger.error({ err }, 'devhost REST failed');
    const reason = ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 410: 'Gone' } as Record<number, string>)[status] ?? 'Internal Server Error';
    if (req.path.startsWith('/api/v2/')) {
      res.status(status).json({ errors: [{ status, code: reason.toUpperCase().replace(/ /g, '_'), title: reason, detail: message }] });
    } else {
      res.status(status).json({ statusCode: status, data: { authorized: status !== 401, valid: true, errors: [], successful: false }, message, reason });
    }
  });

  return router;
}
