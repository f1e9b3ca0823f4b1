/**
 * Short-lived download links for exports (and, as a kind of their own, for the SOC 2 report). An iframe cannot
 * attach a context JWT to a browser download, so the space screen asks for a link (with its JWT) and navigates to
 * it. The token is a JWT (HS256) good for one purpose (an evidence download, or a report view), one audience,
 * one tenant, one account, one scope, one set of filters and one format, for LINK_TTL_S seconds. Its key is
 * derived from the service's secret key (ATTEST_SECRET_KEY, or the development key file): never logged, never
 * stored.
 */
import { hkdfSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Clock } from '../lib/clock';
import { AuthenticationError } from '../lib/errors';
import type { EvidenceFilter, EvidenceFormat } from './evidence-service';

export const LINK_TTL_S = 60;
const ISSUER = 'attest';
/** Verification accepts exactly this list: never `none`, never an algorithm the token names for itself. */
const ALGORITHMS: jwt.Algorithm[] = ['HS256'];

/**
 * What a link is for: its purpose (and the audience, `attest:<purpose>`, and key derived from it) and the
 * formats it may name. A token of one kind never passes for another.
 */
export interface LinkKind<F extends string> {
  purpose: string;
  formats: readonly F[];
}

export const EVIDENCE_DOWNLOAD: LinkKind<EvidenceFormat> = { purpose: 'evidence-download', formats: ['csv', 'zip'] };

export interface EvidenceLink<F extends string = EvidenceFormat> {
  clientKey: string;
  accountId: string;
  filter: EvidenceFilter;
  format: F;
}

interface Claims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  purpose: string;
  tenant: string;
  space: string | null;
  from: string | null;
  to: string | null;
  format: string;
}

export class EvidenceLinks<F extends string = EvidenceFormat> {
  private readonly key: Buffer;
  /** Who the token is for: this kind's route, nothing else that verifies HS256 tokens. */
  private readonly audience: string;

  constructor(
    secretKey: Buffer,
    private readonly clock: Clock,
    private readonly kind: LinkKind<F> = EVIDENCE_DOWNLOAD as unknown as LinkKind<F>,
  ) {
    // A key of its own: a token minted here can never pass for anything else signed with the secret.
    const info = kind.purpose === EVIDENCE_DOWNLOAD.purpose ? 'attest evidence-link v1' : `attest ${kind.purpose}-link v1`;
    this.key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), info, 32));
    this.audience = `attest:${kind.purpose}`;
  }

  /** A token for `link`, and when it stops working. */
  create(link: EvidenceLink<F>): { token: string; expiresAt: Date } {
    const iat = Math.floor(this.clock.now().getTime() / 1000);
    const exp = iat + LINK_TTL_S;
    const claims: Claims = {
      iss: ISSUER,
      aud: this.audience,
      sub: link.accountId,
      iat,
      exp,
      purpose: this.kind.purpose,
      tenant: link.clientKey,
      space: link.filter.spaceKey,
      from: link.filter.from ? link.filter.from.toISOString() : null,
      to: link.filter.to ? link.filter.to.toISOString() : null,
      format: link.format,
    };
    return { token: jwt.sign(claims, this.key, { algorithm: 'HS256' }), expiresAt: new Date(exp * 1000) };
  }

  /** The link a token stands for; AuthenticationError when it is forged, altered, for something else or expired. */
  read(token: string): EvidenceLink<F> {
    let c: Partial<Claims>;
    try {
      c = jwt.verify(token, this.key, {
        algorithms: ALGORITHMS,
        audience: this.audience,
        issuer: ISSUER,
        clockTimestamp: Math.floor(this.clock.now().getTime() / 1000),
      }) as Partial<Claims>;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new AuthenticationError('the download link has expired: ask for a new one');
      if (err instanceof jwt.JsonWebTokenError && /malformed/.test(err.message)) throw new AuthenticationError('the download link is malformed');
      throw new AuthenticationError('the download link is not valid');
    }
    // exp is required here (jsonwebtoken only checks it when present).
    if (c.purpose !== this.kind.purpose || typeof c.exp !== 'number' || typeof c.tenant !== 'string' || typeof c.sub !== 'string' || !this.kind.formats.includes(c.format as F)) {
      throw new AuthenticationError('the download link is not valid');
    }
    return {
      clientKey: c.tenant,
      accountId: c.sub,
      filter: { spaceKey: c.space ?? null, from: c.from ? new Date(c.from) : null, to: c.to ? new Date(c.to) : null },
      format: c.format as F,
    };
  }
}
