/**
 * Short-lived download links for exports. An iframe cannot attach a context JWT to a browser download,
 * so the space screen asks for a link (with its JWT) and navigates to it. The token is good for one
 * purpose (an evidence download), one tenant, one account, one scope, one set of filters and one format,
 * for LINK_TTL_S seconds. HMAC-SHA256 with a key derived from the service's secret key.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../lib/clock';
import { AuthenticationError } from '../lib/errors';
import type { EvidenceFilter, EvidenceFormat } from './evidence-service';

export const LINK_TTL_S = 60;
const PURPOSE = 'evidence-download';

export interface EvidenceLink {
  clientKey: string;
  accountId: string;
  filter: EvidenceFilter;
  format: EvidenceFormat;
}

interface Claims {
  p: typeof PURPOSE;
  ck: string;
  acc: string;
  sp: string | null;
  from: string | null;
  to: string | null;
  fmt: EvidenceFormat;
  exp: number;
}

export class EvidenceLinks {
  private readonly key: Buffer;

  constructor(secretKey: Buffer, private readonly clock: Clock) {
    // A key of its own: a token minted here can never pass for anything else signed with the secret.
    this.key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'attest evidence-link v1', 32));
  }

  /** A token for `link`, and when it stops working. */
  create(link: EvidenceLink): { token: string; expiresAt: Date } {
    const exp = Math.floor(this.clock.now().getTime() / 1000) + LINK_TTL_S;
    const claims: Claims = {
      p: PURPOSE,
      ck: link.clientKey,
      acc: link.accountId,
      sp: link.filter.spaceKey,
      from: link.filter.from ? link.filter.from.toISOString() : null,
      to: link.filter.to ? link.filter.to.toISOString() : null,
      fmt: link.format,
      exp,
    };
    const body = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(exp * 1000) };
  }

  /** The link a token stands for; AuthenticationError when it is forged, altered or expired. */
  read(token: string): EvidenceLink {
    const [body, mac, ...rest] = token.split('.');
    if (!body || !mac || rest.length) throw new AuthenticationError('the download link is malformed');
    const want = Buffer.from(this.mac(body), 'utf8');
    const got = Buffer.from(mac, 'utf8');
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new AuthenticationError('the download link is not valid');
    const c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claims;
    if (c.p !== PURPOSE) throw new AuthenticationError('the download link is not valid');
    if (typeof c.exp !== 'number' || c.exp * 1000 <= this.clock.now().getTime()) {
      throw new AuthenticationError('the download link has expired: ask for a new one');
    }
    return {
      clientKey: c.ck,
      accountId: c.acc,
      filter: { spaceKey: c.sp, from: c.from ? new Date(c.from) : null, to: c.to ? new Date(c.to) : null },
      format: c.fmt,
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(`${PURPOSE}.${body}`).digest('base64url');
  }
}
