import {
  AsymmetricAlgorithm,
  createQueryStringHash,
  decodeSymmetric,
  encodeAsymmetric,
  encodeSymmetric,
  fromMethodAndUrl,
  SymmetricAlgorithm,
} from 'atlassian-jwt';
import type { DevKeys, DevTenant } from './devhost-types';
import { DevhostError } from './devhost-state';

/** Confluence's page and context tokens live for three minutes. */
export const TOKEN_TTL_S = 180;

/**
 * JWT times follow the wall clock, not the injected clock: ACE checks `exp` against the real time,
 * so a token signed at a test's frozen "now" would be refused.
 */
const nowS = () => Math.floor(Date.now() / 1000);

export interface JwtContext {
  user?: { accountId: string };
  confluence?: { content?: { id: string; version?: string; type?: string }; space?: { key: string; id?: string }; macro?: { id: string } };
  [key: string]: unknown;
}

/** qsh of a request to the add-on; `url` is absolute (or a path) and `addonBaseUrl` is stripped from its path. */
export function qshFor(method: string, url: string, addonBaseUrl: string): string {
  return createQueryStringHash(fromMethodAndUrl(method.toUpperCase(), url), false, addonBaseUrl);
}

/** The RS256 token of a signed install/uninstall: iss = clientKey, aud = the add-on's baseUrl. */
export function signInstall(keys: DevKeys, tenant: DevTenant, url: string, addonBaseUrl: string): string {
  const iat = nowS();
  return encodeAsymmetric(
    { iss: tenant.clientKey, aud: [addonBaseUrl], iat, exp: iat + TOKEN_TTL_S, qsh: qshFor('POST', url, addonBaseUrl) },
    keys.privateKeyPem,
    AsymmetricAlgorithm.RS256,
    { kid: keys.kid },
  );
}

/** An HS256 token for one request to the add-on (iframe URL or webhook), bound to it by qsh. */
export function signRequestJwt(opts: {
  tenant: DevTenant;
  method: string;
  url: string;
  addonBaseUrl: string;
  accountId?: string;
  context?: JwtContext;
  ttlSeconds?: number;
}): string {
  const iat = nowS();
  const claims: Record<string, unknown> = {
    iss: opts.tenant.clientKey,
    iat,
    exp: iat + (opts.ttlSeconds ?? TOKEN_TTL_S),
    qsh: qshFor(opts.method, opts.url, opts.addonBaseUrl),
  };
  if (opts.accountId) claims.sub = opts.accountId;
  const context = opts.context ?? (opts.accountId ? { user: { accountId: opts.accountId } } : undefined);
  if (context) claims.context = context;
  return encodeSymmetric(claims, opts.tenant.sharedSecret, SymmetricAlgorithm.HS256);
}

/** What `AP.context.getToken()` returns: not bound to a URL (`qsh: "context-qsh"`). */
export function signContextJwt(opts: { tenant: DevTenant; accountId: string; context?: JwtContext; ttlSeconds?: number }): string {
  const iat = nowS();
  return encodeSymmetric(
    {
      iss: opts.tenant.clientKey,
      sub: opts.accountId,
      iat,
      exp: iat + (opts.ttlSeconds ?? TOKEN_TTL_S),
      qsh: 'context-qsh',
      context: { ...(opts.context ?? {}), user: { accountId: opts.accountId } },
    },
    opts.tenant.sharedSecret,
    SymmetricAlgorithm.HS256,
  );
}

function unverifiedClaims(token: string): Record<string, unknown> {
  try {
    return decodeSymmetric(token, '', SymmetricAlgorithm.HS256, true) as Record<string, unknown>;
  } catch {
    throw new DevhostError(401, 'the JWT cannot be read');
  }
}

/**
 * Verifies the add-on's outbound JWT as Confluence does: the tenant is `aud[0]` (ACE) or `iss`,
 * HS256 with that tenant's current secret, not expired, and `qsh` over this exact request with the
 * path taken relative to the tenant's base URL.
 */
export function verifyAddonJwt(
  req: { method: string; path: string; query: Record<string, unknown>; authorization?: string },
  findTenant: (clientKey: string) => DevTenant | undefined,
  addonKey: string,
  /** The base the qsh path is relative to: the tenant's base URL, unless the API lives elsewhere. */
  qshBase?: string,
): DevTenant {
  const header = req.authorization ?? '';
  if (!header.startsWith('JWT ')) throw new DevhostError(401, 'This request needs a JWT (Authorization: JWT …)');
  const token = header.slice(4).trim();
  const claims = unverifiedClaims(token);
  const aud = Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
  const clientKey = String(aud[0] ?? claims.iss ?? '');
  const tenant = findTenant(clientKey);
  if (!tenant || !tenant.installed) throw new DevhostError(401, 'The JWT names no installed app');
  if (aud.length && claims.iss !== addonKey) throw new DevhostError(401, 'The JWT issuer is not the app key');
  try {
    decodeSymmetric(token, tenant.sharedSecret, SymmetricAlgorithm.HS256, false);
  } catch {
    throw new DevhostError(401, 'The JWT signature is not valid');
  }
  if (typeof claims.exp !== 'number' || claims.exp <= nowS()) throw new DevhostError(401, 'The JWT has expired or has no exp');
  const expected = createQueryStringHash({ method: req.method, pathname: req.path, query: req.query }, false, qshBase ?? tenant.baseUrl);
  if (claims.qsh !== expected) throw new DevhostError(401, 'The JWT query string hash (qsh) does not match this request');
  return tenant;
}
