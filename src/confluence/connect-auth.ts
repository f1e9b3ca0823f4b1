import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { decodeSymmetric, SymmetricAlgorithm } from 'atlassian-jwt';
import { AuthenticationError } from '../lib/errors';
import { isSafeText, unsafeTextPath } from '../lib/safe-text';
import { VerifiedTokens } from './verified-tokens';

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

/** Longer than any token Confluence mints (a page JWT with a full context is well under 4 KB). */
const MAX_TOKEN_LENGTH = 8192;
const MAX_ID_CLAIM = 255;
const MAX_AUD_ENTRY = 2048;

/** Every place ACE or our own middleware reads a token from. */
function tokensOf(req: Request): unknown[] {
  const found: unknown[] = [];
  if (req.query.jwt !== undefined) found.push(req.query.jwt);
  if (req.query.acpt !== undefined) found.push(req.query.acpt);
  if (req.body && typeof req.body === 'object' && (req.body as { jwt?: unknown }).jwt !== undefined) found.push((req.body as { jwt: unknown }).jwt);
  const header = req.headers.authorization;
  if (header && header.startsWith('JWT ')) found.push(header.slice(4).trim());
  const acpt = req.headers['x-acpt'];
  if (acpt !== undefined) found.push(acpt);
  return found;
}

function decodeSegment(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const idClaim = (v: unknown, max = MAX_ID_CLAIM) => typeof v === 'string' && v.length > 0 && v.length <= max && isSafeText(v);

/** Why a token cannot be one Confluence (or the app) minted, judged from its unverified content; null when it can be. */
function malformedTokenReason(token: unknown): string | null {
  if (typeof token !== 'string' || token.length === 0) return 'the JWT is not a single string';
  if (token.length > MAX_TOKEN_LENGTH) return 'the JWT is too long';
  const parts = token.split('.');
  if (parts.length !== 3) return 'the JWT cannot be read';
  const header = decodeSegment(parts[0]);
  const claims = decodeSegment(parts[1]);
  if (!header || !claims) return 'the JWT cannot be read';
  if (unsafeTextPath(header, '', 4) || unsafeTextPath(claims, '', 8)) return 'the JWT holds text that is not valid Unicode, contains a NUL, or is nested too deeply';
  if (typeof header.alg !== 'string') return 'the JWT header names no algorithm';
  if (!idClaim(claims.iss)) return 'the JWT issuer (iss) must be an installation key';
  const aud = claims.aud;
  if (aud !== undefined) {
    const entries = Array.isArray(aud) ? aud : [aud];
    if (entries.length === 0 || entries.length > 10 || !entries.every((a) => idClaim(a, MAX_AUD_ENTRY))) return 'the JWT audience (aud) is not valid';
  }
  if (claims.sub !== undefined && claims.sub !== null && !idClaim(claims.sub)) return 'the JWT subject (sub) must be an account id';
  if (claims.qsh !== undefined && !idClaim(claims.qsh, 128)) return 'the JWT query string hash (qsh) is not valid';
  for (const time of ['iat', 'exp', 'nbf'] as const) {
    if (claims[time] !== undefined && !(typeof claims[time] === 'number' && Number.isFinite(claims[time]))) return `the JWT ${time} must be a number`;
  }
  const context = claims.context;
  if (context !== undefined && (context === null || typeof context !== 'object' || Array.isArray(context))) return 'the JWT context must be an object';
  const accountId = (context as { user?: { accountId?: unknown } } | undefined)?.user?.accountId;
  if (accountId !== undefined && !idClaim(accountId)) return 'the JWT context names no valid account id';
  return null;
}

/**
 * Runs before ACE and before our own JWT checks: ACE looks the tenant up by the unverified `iss` (or
 * `aud[0]`) before it checks the signature, so a claim PostgreSQL cannot compare (a NUL, an object) must
 * never get that far. A token with such claims was not minted by Confluence: 401, with a plain message.
 */
export const refuseMalformedJwtClaims: RequestHandler = (req, _res, next) => {
  const now = Math.floor(Date.now() / 1000);
  for (const token of tokensOf(req)) {
    // A token verified before passed these checks then: the same text passes them again.
    if (typeof token === 'string' && contextTokens.known(token, now)) continue;
    const reason = malformedTokenReason(token);
    if (reason) return next(new AuthenticationError(reason));
  }
  next();
};

/** App setting holding `(hostBaseUrl) => host script URL` for the views. */
export const HOST_SCRIPT_RESOLVER = 'attest.hostScriptFor';

function attachPrincipal(req: Request, res: Response, next: NextFunction): void {
  try {
    requireExpiry(req);
  } catch (err) {
    return next(err);
  }
  attachVerifiedPrincipal(req, res, next);
}

/** After a verified page JWT whose `exp` is checked (the lean check): the principal, no session token, the host script. */
export function attachVerifiedPrincipal(req: Request, res: Response, next: NextFunction): void {
  try {
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

/** Context tokens whose signature checked out, for the requests that bring them again (verified-tokens.ts). */
const contextTokens = new VerifiedTokens<ContextClaims>();

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

/** The claims of a Connect JWT before its signature is checked (to learn its issuer); 401 when unreadable. */
export function unverifiedClaims<T>(token: string): T {
  try {
    return decodeSymmetric(token, '', SymmetricAlgorithm.HS256, true) as T;
  } catch {
    throw new AuthenticationError('the JWT cannot be read');
  }
}

/** The claims of an HS256 Connect JWT signed with the tenant's shared secret; 401 when the signature fails. */
export function signedClaims<T>(token: string, sharedSecret: string): T {
  try {
    return decodeSymmetric(token, sharedSecret, SymmetricAlgorithm.HS256, false) as T;
  } catch {
    throw new AuthenticationError('the JWT signature is not valid');
  }
}

async function verifyContextJwt(addon: AddOn, req: Request): Promise<{ principal: Principal; context: unknown }> {
  const header = req.headers.authorization;
  if (!header || !header.startsWith('JWT ')) {
    throw new AuthenticationError('this API needs a context JWT from AP.context.getToken() in "Authorization: JWT …"');
  }
  const token = header.slice(4).trim();
  // Wall clock, as ACE and Confluence use: an injected test clock would not match the token's times.
  const unverified = contextTokens.unchecked(token, Math.floor(Date.now() / 1000)) ?? unverifiedClaims<ContextClaims>(token);
  const issuer = unverified.iss;
  // ACE's session tokens are issued by the app for a tenant (aud); Confluence's are issued by the tenant.
  if (typeof issuer !== 'string' || !issuer || issuer === addon.key) {
    throw new AuthenticationError('the JWT is not issued by a Confluence installation');
  }
  const tenant = (await addon.settings.get('clientInfo', issuer)) as { sharedSecret?: string; baseUrl?: string } | null;
  if (!tenant?.sharedSecret) throw new AuthenticationError('the JWT names no installation');
  const now = Math.floor(Date.now() / 1000);
  const known = contextTokens.claims(token, tenant.sharedSecret, now);
  const claims = known ?? signedClaims<ContextClaims>(token, tenant.sharedSecret);
  if (claims.qsh !== 'context-qsh') {
    throw new AuthenticationError('this API takes a context JWT (qsh "context-qsh"), not a token bound to another URL');
  }
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') throw new AuthenticationError('the JWT needs iat and exp');
  if (claims.exp <= now) throw new AuthenticationError('the JWT has expired. Try reloading the page.');
  if (claims.iat > now + CLOCK_SKEW_S) throw new AuthenticationError('the JWT is issued in the future');
  if (claims.exp - claims.iat > CONTEXT_JWT_MAX_LIFETIME_S) throw new AuthenticationError('the JWT lives longer than a context JWT may');
  if (!known) contextTokens.remember(token, tenant.sharedSecret, claims, claims.exp);
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
