import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { decodeSymmetric, SymmetricAlgorithm } from 'atlassian-jwt';
import { AuthenticationError } from '../lib/errors';

/** Who is calling: the installation (tenant) and the Atlassian account, both from a verified JWT. */
export interface Principal {
  clientKey: string;
  /** Empty for calls Confluence makes on its own behalf (webhooks). */
  accountId: string;
  hostBaseUrl: string;
}

interface AceContext {
  token?: string;
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
    // ACE puts its session token here for views ({{token}}); we take none, so we hand none out.
    res.locals.token = '';
    ctx.token = '';
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

/**
 * For iframe AJAX (everything under /api): only a context JWT as Confluence mints it for
 * `AP.context.getToken()`, in `Authorization: JWT …`. The route authorises the resource itself.
 *
 * ACE's `checkValidToken()` is not used here: it also takes its own `X-acpt` session tokens (no qsh,
 * re-minted on every response, so a leaked one never expires) and page JWTs bound to another URL.
 */
export function contextJwt(addon: AddOn): RequestHandler[] {
  return [
    (req, _res, next) => {
      verifyContextJwt(addon, req).then(({ principal, context }) => {
        (req as PrincipalRequest).principal = principal;
        // Where ACE leaves a verified request's parameters, for code that reads the token's `context` claim.
        (req as unknown as { context: AceContext & { context: unknown } }).context = {
          clientKey: principal.clientKey,
          userAccountId: principal.accountId,
          hostBaseUrl: principal.hostBaseUrl,
          context,
        };
        next();
      }, next);
    },
  ];
}

/** Confluence's context tokens live 15 minutes; a longer-lived one was not minted by it. */
const CONTEXT_JWT_MAX_LIFETIME_S = 15 * 60;
/** Tolerated difference between Confluence's clock and ours. */
const CLOCK_SKEW_S = 60;

interface ContextClaims {
  iss?: unknown;
  sub?: unknown;
  iat?: unknown;
  exp?: unknown;
  qsh?: unknown;
  context?: { user?: { accountId?: unknown } };
}

async function verifyContextJwt(addon: AddOn, req: Request): Promise<{ principal: Principal; context: unknown }> {
  const header = req.headers.authorization;
  if (!header || !header.startsWith('JWT ')) {
    throw new AuthenticationError('this API needs a context JWT from AP.context.getToken() in "Authorization: JWT …"');
  }
  const token = header.slice(4).trim();
  let unverified: ContextClaims;
  try {
    unverified = decodeSymmetric(token, '', SymmetricAlgorithm.HS256, true) as ContextClaims;
  } catch {
    throw new AuthenticationError('the JWT cannot be read');
  }
  const issuer = unverified.iss;
  // ACE's session tokens are issued by the app for a tenant (aud); Confluence's are issued by the tenant.
  if (typeof issuer !== 'string' || !issuer || issuer === addon.key) {
    throw new AuthenticationError('the JWT is not issued by a Confluence installation');
  }
  const tenant = (await addon.settings.get('clientInfo', issuer)) as { sharedSecret?: string; baseUrl?: string } | null;
  if (!tenant?.sharedSecret) throw new AuthenticationError('the JWT names no installation');
  let claims: ContextClaims;
  try {
    claims = decodeSymmetric(token, tenant.sharedSecret, SymmetricAlgorithm.HS256, false) as ContextClaims;
  } catch {
    throw new AuthenticationError('the JWT signature is not valid');
  }
  if (claims.qsh !== 'context-qsh') {
    throw new AuthenticationError('this API takes a context JWT (qsh "context-qsh"), not a token bound to another URL');
  }
  // Wall clock, as ACE and Confluence use: an injected test clock would not match the token's times.
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') throw new AuthenticationError('the JWT needs iat and exp');
  if (claims.exp <= now) throw new AuthenticationError('the JWT has expired. Try reloading the page.');
  if (claims.iat > now + CLOCK_SKEW_S) throw new AuthenticationError('the JWT is issued in the future');
  if (claims.exp - claims.iat > CONTEXT_JWT_MAX_LIFETIME_S) throw new AuthenticationError('the JWT lives longer than a context JWT may');
  const fromContext = claims.context?.user?.accountId;
  const accountId = typeof fromContext === 'string' ? fromContext : typeof claims.sub === 'string' ? claims.sub : '';
  return { principal: { clientKey: issuer, accountId, hostBaseUrl: tenant.baseUrl ?? '' }, context: claims.context };
}

/**
 * ACE answers every request it authenticates (module pages, webhooks) with an `X-acpt` session token.
 * Nothing of ours takes one, so none leaves the process: a token that is never handed out cannot leak.
 */
export const withoutSessionTokens: RequestHandler = (_req, res, next) => {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = (name: string, value: number | string | readonly string[]) =>
    name.toLowerCase() === 'x-acpt' ? res : setHeader(name, value);
  next();
};

/** Requires a signed-in user (not just an installation). */
export function requireUser(req: Request): Principal {
  const p = principalOf(req);
  if (!p.accountId) throw new AuthenticationError('this needs a signed-in Atlassian account');
  return p;
}
