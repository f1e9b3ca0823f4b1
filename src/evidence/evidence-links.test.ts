import { createHmac, hkdfSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ManualClock } from '../lib/clock';
import { AuthenticationError } from '../lib/errors';
import { EvidenceLinks } from './evidence-links';

describe('evidence download links', () => {
  const clock = new ManualClock('2026-05-01T12:00:00.000Z');
  const secret = Buffer.alloc(32, 7);
  const links = new EvidenceLinks(secret, clock);
  const link = { clientKey: 'ck', accountId: 'acc', filter: { spaceKey: 'ENG', from: new Date('2026-01-01T00:00:00Z'), to: null }, format: 'zip' as const };
  /** The link key as EvidenceLinks derives it: lets a test sign claims the service would never mint. */
  const linkKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'attest evidence-link v1', 32));
  const now = () => Math.floor(clock.now().getTime() / 1000);
  const claimsOf = (token: string) => jwt.decode(token) as Record<string, unknown>;

  it('round-trips what it was made for, for 60 seconds', () => {
    clock.set('2026-05-01T12:00:00.000Z');
    const { token, expiresAt } = links.create(link);
    expect(expiresAt.toISOString()).toBe('2026-05-01T12:01:00.000Z');
    expect(links.read(token)).toEqual(link);
    clock.advance(60_000);
    expect(() => links.read(token)).toThrow(/expired/);
  });

  it('is an HS256 JWT with an expiry, an audience, a purpose and the tenant', () => {
    clock.set('2026-05-01T12:00:00.000Z');
    const { token } = links.create(link);
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe('HS256');
    expect(claimsOf(token)).toMatchObject({ aud: 'attest:evidence-download', purpose: 'evidence-download', tenant: 'ck', sub: 'acc', exp: now() + 60 });
  });

  it('refuses an altered token and one made with another secret', () => {
    clock.set('2026-05-01T12:00:00.000Z');
    const { token } = links.create(link);
    const [header, body, mac] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...claimsOf(token), space: null })).toString('base64url');
    expect(() => links.read(`${header}.${altered}.${mac}`)).toThrow(AuthenticationError);
    expect(() => links.read(`${header}.${body}.${mac}`)).not.toThrow();
    expect(() => new EvidenceLinks(Buffer.alloc(32, 8), clock).read(token)).toThrow(/not valid/);
    expect(() => links.read('nonsense')).toThrow(/malformed/);
  });

  it('refuses alg "none", another algorithm, another audience or purpose, and a token without an expiry', () => {
    clock.set('2026-05-01T12:00:00.000Z');
    const claims = claimsOf(links.create(link).token);
    const unsigned = jwt.sign(claims, '', { algorithm: 'none' });
    expect(() => links.read(unsigned)).toThrow(/not valid/);
    // HS512 with the right key: still refused, the list of algorithms is explicit.
    expect(() => links.read(jwt.sign(claims, linkKey, { algorithm: 'HS512' }))).toThrow(/not valid/);
    expect(() => links.read(jwt.sign({ ...claims, aud: 'something-else' }, linkKey, { algorithm: 'HS256' }))).toThrow(/not valid/);
    expect(() => links.read(jwt.sign({ ...claims, purpose: 'checkpoint' }, linkKey, { algorithm: 'HS256' }))).toThrow(/not valid/);
    const { exp: _exp, ...noExpiry } = claims;
    expect(() => links.read(jwt.sign(noExpiry, linkKey, { algorithm: 'HS256' }))).toThrow(/not valid/);
    // The same claims signed properly pass: the refusals above are about what was changed.
    expect(links.read(jwt.sign(claims, linkKey, { algorithm: 'HS256' }))).toEqual(link);
    // The raw HMAC of the old hand-made format no longer passes for a link.
    const oldStyle = Buffer.from(JSON.stringify({ p: 'evidence-download', ck: 'ck', exp: now() + 60 })).toString('base64url');
    expect(() => links.read(`${oldStyle}.${createHmac('sha256', linkKey).update(oldStyle).digest('base64url')}`)).toThrow(AuthenticationError);
  });
});
