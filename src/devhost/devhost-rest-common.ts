/**
 * What the devhost's REST modules share: the request's tenant (set by the JWT check in devhost-rest.ts), query
 * parsing as Confluence does it, and the 410 Gone of removed endpoints.
 */
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../lib/logger';
import type { DevhostStore } from './devhost-state';
import type { DevTenant } from './devhost-types';

export type TenantRequest = Request & { devhostTenant: DevTenant };

/** What a REST module needs: the store, the app's key, a logger and the calling tenant's URLs. */
export interface RestContext {
  store: DevhostStore;
  addonKey: string;
  logger: Logger;
  /** The calling tenant's base URL (…/wiki). */
  base(req: Request): string;
  /** Its context path (/…/wiki), as Confluence puts in `_links.context`. */
  contextPath(req: Request): string;
}

/** v2 pagination is small on purpose, so the add-on's `_links.next` handling is exercised. */
export const V2_PAGE_SIZE = 2;

export function zodIssues(error: z.ZodError): string {
  return error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ');
}

export function str(q: unknown): string {
  return typeof q === 'string' ? q : Array.isArray(q) && typeof q[0] === 'string' ? q[0] : '';
}

export function expands(req: Request): Set<string> {
  return new Set(str(req.query.expand).split(',').map((s) => s.trim()).filter(Boolean));
}

export function intParam(raw: unknown, dflt: number, max: number): number {
  const n = Number.parseInt(str(raw), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : dflt;
}

/** What Confluence answers on an endpoint Atlassian has removed. */
export function gone(_req: Request, res: Response): void {
  res
    .status(410)
    .set({ Deprecation: 'Wed, 1 Mar 2023 00:00:00 GMT', Link: '<https://developer.atlassian.com/cloud/confluence/changelog/#CHANGE-864>; rel="deprecation"' })
    .json({
      statusCode: 410,
      data: { authorized: true, valid: true, errors: [], successful: false },
      message: 'com.atlassian.confluence.api.service.exceptions.GoneException: This deprecated endpoint has been removed.',
      reason: 'Gone',
    });
}
