import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { AuthenticationError } from '../lib/errors';

/** Who is calling: the installation (tenant) and the Atlassian account, both from a verified JWT. */
export interface Principal {
  clientKey: string;
  /** Empty for calls Confluence makes on its own behalf (webhooks). */
  accountId: string;
  hostBaseUrl: string;
}

interface AceContext {
  clientKey?: string;
  userAccountId?: string;
  hostBaseUrl?: string;
}

function tokenOf(req: Request): string | undefined {
  const fromQuery = typeof req.query.jwt === 'string' ? req.query.jwt : undefined;
  const fromBody = req.body && typeof req.body.jwt === 'string' ? (req.body.jwt as string) : undefined;
  const header = req.headers.authorization;
  const fromHeader = header && header.startsWith('JWT ') ? header.slice(4) : undefined;
  const acpt = typeof req.query.acpt === 'string' ? req.query.acpt : req.header('X-acpt');
  return fromQuery ?? fromBody ?? fromHeader ?? acpt;
}

/** ACE accepts a token without `exp`; Confluence always sends one, so we insist on it. */
function requireExpiry(req: Request): void {
  const token = tokenOf(req);
  const payload = token?.split('.')[1];
  let claims: { exp?: unknown } = {};
  try {
    claims = payload ? JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) : {};
  } catch {
    throw new AuthenticationError('the JWT cannot be read');
  }
  if (typeof claims.exp !== 'number') throw new AuthenticationError('the JWT has no expiry (exp) claim');
}

/** App setting holding `(hostBaseUrl) => host script URL` for the views. */
export const HOST_SCRIPT_RESOLVER = 'attest.hostScriptFor';

function attachPrincipal(req: Request, res: Response, next: NextFunction): void {
  try {
    requireExpiry(req);
    const ctx = (req as unknown as { context?: AceContext }).context ?? {};
    if (!ctx.clientKey) throw new AuthenticationError('the JWT does not name an installation');
    (req as PrincipalRequest).principal = {
      clientKey: ctx.clientKey,
      accountId: ctx.userAccountId ?? '',
      hostBaseUrl: ctx.hostBaseUrl ?? '',
    };
    const resolve = req.app.get(HOST_SCRIPT_RESOLVER) as ((base: string) => string) | undefined;
    if (resolve) res.locals.hostScriptUrl = resolve(ctx.hostBaseUrl ?? '');
    next();
  } catch (err) {
    next(err);
  }
}

export type PrincipalRequest = Request & { principal: Principal };

export function principalOf(req: Request): Principal {
  const p = (req as Partial<PrincipalRequest>).principal;
  if (!p) throw new AuthenticationError('not authenticated');
  return p;
}

/** For module iframes and webhooks: a JWT whose qsh matches this exact request. */
export function pageJwt(addon: AddOn): RequestHandler[] {
  return [addon.authenticate() as RequestHandler, attachPrincipal];
}

/** For iframe AJAX: a context JWT (`qsh: context-qsh`); the route authorises the resource itself. */
export function contextJwt(addon: AddOn): RequestHandler[] {
  return [addon.checkValidToken() as RequestHandler, attachPrincipal];
}

/** Requires a signed-in user (not just an installation). */
export function requireUser(req: Request): Principal {
  const p = principalOf(req);
  if (!p.accountId) throw new AuthenticationError('this needs a signed-in Atlassian account');
  return p;
}
