/**
 * Short-lived download links for exports. An iframe cannot attach a context JWT to a browser download,
 * so the space screen asks for a link (with its JWT) and navigates to it. The token is a JWT (HS256) good
 * for one purpose (an evidence download), one audience, one tenant, one account, one scope, one set of
 * filters and one format, for LINK_TTL_S seconds. Its key is derived from the service's secret key
 * (ATTEST_SECRET_KEY, or the development key file): never logged, never stored.
 */
import { hkdfSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Clock } from '../lib/clock';
import { AuthenticationError } from '../lib/errors';
import type { EvidenceFilter, EvidenceFormat } from './evidence-service';

export const LINK_TTL_S = 60;
const PURPOSE = 'evidence-download';
/** Who the token is for: this service's download route, nothing else that verifies HS256 tokens. */
const AUDIENCE = 'attest:evidence-download';
const ISSUER = 'attest';
/** Verification accepts exactly this list: never `none`, never an algorithm the token names for itself. */
const ALGORITHMS: jwt.Algorithm[] = ['HS256'];
const FORMATS: readonly EvidenceFormat[] = ['csv', 'zip'];

export interface EvidenceLink {
  clientKey: string;
  accountId: string;
  filter: EvidenceFilter;
  format: EvidenceFormat;
}

interface Claims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  purpose: typeof PURPOSE;
  tenant: string;
  space: string | null;
  from: string | null;
  to: string | null;
  format: EvidenceFormat;
}

export class EvidenceLinks {
  private readonly key: Buffer;

  constructor(secretKey: Buffer, private readonly clock: Clock) {
    // A key of its own: a token minted here can never pass for anything else signed with the secret.
    this.key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'attest evidence-link v1', 32));
  }

  /** A token for `link`, and when it stops working. */
  create(link: EvidenceLink): { token: string; expiresAt: Date } {
    const iat = Math.floor(this.clock.now().getTime() / 1000);
    const exp = iat + LINK_TTL_S;
    const claims: Claims = {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: link.accountId,
      iat,
      exp,
      purpose: PURPOSE,
      tenant: link.clientKey,
      space: link.filter.spaceKey,
      from: link.filter.from ? link.filter.from.toISOString() : null,
      to: link.filter.to ? link.filter.to.toISOString() : null,
      format: link.format,
    };
    return { token: jwt.sign(claims, this.key, { algorithm: 'HS256' }), expiresAt: new Date(exp * 1000) };
  }

  /** The link a token stands for; AuthenticationError when it is forged, altered, for something else or expired. */
  read(token: string): EvidenceLink {
    let c: Partial<Claims>;
    try {
      c = jwt.verify(token, this.key, {
        algorithms: ALGORITHMS,
        audience: AUDIENCE,
        issuer: ISSUER,
        clockTimestamp: Math.floor(this.clock.now().getTime() / 1000),
      }) as Partial<Claims>;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new AuthenticationError('the download link has expired: ask for a new one');
      if (err instanceof jwt.JsonWebTokenError && /malformed/.test(err.message)) throw new AuthenticationError('the download link is malformed');
      throw new AuthenticationError('the download link is not valid');
    }
    // exp is required here (jsonwebtoken only checks it when present).
    if (c.purpose !== PURPOSE || typeof c.exp !== 'number' || typeof c.tenant !== 'string' || typeof c.sub !== 'string' || !FORMATS.includes(c.format as EvidenceFormat)) {
      throw new AuthenticationError('the download link is not valid');
    }
    return {
      clientKey: c.tenant,
      accountId: c.sub,
      filter: { spaceKey: c.space ?? null, from: c.from ? new Date(c.from) : null, to: c.to ? new Date(c.to) : null },
      format: c.format as EvidenceFormat,
    };
  }
}
