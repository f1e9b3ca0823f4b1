import type { Request, RequestHandler } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { createQueryStringHash, fromExpressRequest } from 'atlassian-jwt';
import { AuthenticationError } from '../lib/errors';
import { attachVerifiedPrincipal, signedClaims, unverifiedClaims } from './connect-auth';

/** An installation as verification needs it (from a cache that is invalidated on install and uninstall). */
export interface JwtTenant {
  sharedSecret: string;
  baseUrl: string;
}

export type TenantLookup = (clientKey: string) => Promise<JwtTenant | null>;

/** Tolerated difference between Confluence's clock and ours, for `iat` (ACE checks no `iat`; we refuse one from the future). */
const CLOCK_SKEW_S = 60;

interface PageClaims {
  iss?: unknown;
  aud?: unknown;
  sub?: unknown;
  iat?: unknown;
  exp?: unknown;
  qsh?: unknown;
  context?: { user?: { accountId?: unknown; userKey?: unknown } } & Record<string, unknown>;
}

/** Where ACE finds a page JWT: `?jwt=`, a `jwt` form field (not both), else `Authorization: JWT …`. Never an `acpt` session token. */
function pageTokenOf(req: Request): string {
  const inQuery = typeof req.query.jwt === 'string' ? req.query.jwt : undefined;
  const inBody = req.body && typeof (req.body as { jwt?: unknown }).jwt === 'string' ? ((req.body as { jwt: string }).jwt) : undefined;
  if (inQuery && inBody) throw new AuthenticationError('this needs a JWT from Confluence');
  const header = req.headers.authorization;
  const token = inQuery ?? inBody ?? (header && header.startsWith('JWT ') ? header.slice(4) : undefined);
  if (!token) throw new AuthenticationError('this needs a JWT from Confluence');
  return token;
}

/**
 * The claims relied on are Connect's (../shared/CONNECT.md "JWT"; Atlassian, "Understanding JWT for Connect apps",
 * developer.atlassian.com/cloud/confluence/understanding-jwt-for-connect-apps): HS256 with the installation's
 * shared secret, `iss` = its clientKey, `sub` = the user's accountId, `iat`, `exp`, and `qsh` over the request.
 *
 * ACE's `authenticate()` for module pages, without what it costs and we do not use: the same checks in the
 * same order — `iss` names an installed tenant (an `aud`, when present, must name the same one), HS256 with that
 * tenant's shared secret, `exp` not reached (ACE: `now >= exp` fails, no leeway; we also insist on an `exp`), the
 * `qsh` of this exact request (atlassian-jwt, with the form body as ACE retries it), and the claims' `context` and
 * `sub` as the request's user — but the tenant's secret comes from `tenants` (a cache invalidated by every change
 * to the tenants table), and no `X-acpt` session token is minted (nothing of ours takes one: the iframes use
 * `AP.context.getToken()`). `iat` more than a minute in the future is refused.
 */
export function leanPageJwt(addon: AddOn, tenants: TenantLookup): RequestHandler[] {
  const baseUrl = (addon.config as unknown as { baseUrl: { href: string } }).baseUrl.href;
  const verify: RequestHandler = (req, res, next) => {
    verifyPageJwt(req, tenants, baseUrl).then(({ clientKey, tenant, claims }) => {
      const user = claims.context?.user;
      const userAccountId = typeof user?.accountId === 'string' && user.accountId ? user.accountId : typeof claims.sub === 'string' ? claims.sub : undefined;
      // What ACE's request handler leaves on res.locals and req.context for views and routes.
      const params = {
        title: addon.name,
        addonKey: addon.key,
        clientKey,
        token: '',
        localBaseUrl: addon.config.localBaseUrl(),
        hostBaseUrl: tenant.baseUrl,
        userAccountId,
        ...(claims.context ? { context: claims.context } : {}),
      };
      Object.assign(res.locals, params);
      (req as unknown as { context: unknown }).context = { ...params };
      next();
    }, next);
  };
  return [verify, attachVerifiedPrincipal];
}

async function verifyPageJwt(req: Request, tenants: TenantLookup, baseUrl: string): Promise<{ clientKey: string; tenant: JwtTenant; claims: PageClaims }> {
  const token = pageTokenOf(req);
  const unverified = unverifiedClaims<PageClaims>(token);
  if (typeof unverified.iss !== 'string' || !unverified.iss) throw new AuthenticationError('the JWT does not say who issued it (iss)');
  if (typeof unverified.qsh !== 'string' || !unverified.qsh) throw new AuthenticationError('the JWT has no query string hash (qsh)');
  const clientKey = unverified.iss;
  // ACE would take aud[0] as the tenant (its own session tokens); a Confluence page JWT names none, or itself.
  if (Array.isArray(unverified.aud) ? unverified.aud.length > 0 && unverified.aud[0] !== clientKey : unverified.aud !== undefined && unverified.aud !== clientKey) {
    throw new AuthenticationError('the JWT is not addressed to the installation that issued it');
  }
  const tenant = await tenants(clientKey);
  if (!tenant?.sharedSecret) throw new AuthenticationError('the JWT names no installation of this app');
  const claims = signedClaims<PageClaims>(token, tenant.sharedSecret);
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number') throw new AuthenticationError('the JWT has no expiry (exp) claim');
  if (now >= claims.exp) throw new AuthenticationError('the JWT has expired. Try reloading the page.');
  if (typeof claims.iat === 'number' && claims.iat > now + CLOCK_SKEW_S) throw new AuthenticationError('the JWT is issued in the future');
  const request = fromExpressRequest(req);
  if (claims.qsh !== createQueryStringHash(request, false, baseUrl) && claims.qsh !== createQueryStringHash(request, true, baseUrl)) {
    throw new AuthenticationError('the JWT was not issued for this URL (its query string hash does not match)');
  }
  return { clientKey, tenant, claims };
}
