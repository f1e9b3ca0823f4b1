import { ManualClock } from '../lib/clock';
import { AuthenticationError } from '../lib/errors';
import { EvidenceLinks } from './evidence-links';

describe('evidence download links', () => {
  const clock = new ManualClock('2026-05-01T12:00:00.000Z');
  const links = new EvidenceLinks(Buffer.alloc(32, 7), clock);
  const link = { clientKey: 'ck', accountId: 'acc', filter: { spaceKey: 'ENG', from: new Date('2026-01-01T00:00:00Z'), to: null }, format: 'zip' as const };

  it('round-trips what it was made for, for 60 seconds', () => {
    const { token, expiresAt } = links.create(link);
    expect(expiresAt.toISOString()).toBe('2026-05-01T12:01:00.000Z');
    expect(links.read(token)).toEqual(link);
    clock.advance(60_000);
    expect(() => links.read(token)).toThrow(/expired/);
  });

  it('refuses an altered token and one made with another secret', () => {
    clock.set('2026-05-01T12:00:00.000Z');
    const { token } = links.create(link);
    const [body, mac] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), sp: null })).toString('base64url');
    expect(() => links.read(`${altered}.${mac}`)).toThrow(AuthenticationError);
    expect(() => new EvidenceLinks(Buffer.alloc(32, 8), clock).read(token)).toThrow(/not valid/);
    expect(() => links.read('nonsense')).toThrow(/malformed/);
  });
});
