/**
 * Context JWTs whose HS256 signature has been checked, with the secret that checked it (issue 15). The macro asks
 * for a context token before each call and reuses one until shortly before it expires (public/js/attest-ap.js), so
 * an instance sees the same token many times: its signature is checked once, not on every request.
 *
 * Only the signature and the token's well-formedness are remembered, never a verdict on time or tenant: each
 * request still looks its tenant up and is refused when the tenant is gone or its shared secret is no longer the
 * one that checked the token (a reinstall), and the time checks are made again against the claims kept here.
 * Keyed by the whole token: the same text can only carry the same signature. Bounded: the oldest entry goes first.
 */
export class VerifiedTokens<C> {
  private readonly entries = new Map<string, { secret: string; claims: C; exp: number }>();

  constructor(private readonly max = 4096) {}

  /** Whether `token` was verified with some secret and has not reached `exp` (it passed the well-formedness checks). */
  known(token: string, nowS: number): boolean {
    return this.unchecked(token, nowS) !== undefined;
  }

  /** The claims of a token verified before, whatever secret checked it: to learn its issuer, never to trust it. */
  unchecked(token: string, nowS: number): C | undefined {
    const e = this.entries.get(token);
    return e !== undefined && nowS < e.exp ? e.claims : undefined;
  }

  /** The claims of `token` as checked with `secret`, undefined when it was not (or with another secret, or it expired). */
  claims(token: string, secret: string, nowS: number): C | undefined {
    const e = this.entries.get(token);
    if (e === undefined) return undefined;
    if (e.secret !== secret || nowS >= e.exp) {
      this.entries.delete(token);
      return undefined;
    }
    return e.claims;
  }

  /** Remembers `token`'s `claims`, checked with `secret`, until `exp` (seconds). The claims are frozen: requests share them. */
  remember(token: string, secret: string, claims: C, exp: number): void {
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { secret, claims: deepFreeze(claims), exp });
  }

  get size(): number {
    return this.entries.size;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
