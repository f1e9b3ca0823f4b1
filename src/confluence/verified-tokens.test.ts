import { VerifiedTokens } from './verified-tokens';

describe('VerifiedTokens', () => {
  const claims = () => ({ iss: 'tenant-a', exp: 1_000, context: { user: { accountId: 'alice' } } });

  it('answers a token only with the secret that checked it, and only before its exp', () => {
    const tokens = new VerifiedTokens<ReturnType<typeof claims>>();
    tokens.remember('t1', 'secret-1', claims(), 1_000);
    expect(tokens.claims('t1', 'secret-1', 999)).toEqual(claims());
    // A reinstall changed the secret: the token is checked again (and dropped).
    expect(tokens.claims('t1', 'secret-2', 999)).toBeUndefined();
    expect(tokens.claims('t1', 'secret-1', 999)).toBeUndefined();
    tokens.remember('t1', 'secret-1', claims(), 1_000);
    expect(tokens.claims('t1', 'secret-1', 1_000)).toBeUndefined();
    expect(tokens.known('t1', 999)).toBe(false);
    expect(tokens.claims('t2', 'secret-1', 0)).toBeUndefined();
  });

  it('knows a token (and its unchecked claims) until its exp, whatever the secret', () => {
    const tokens = new VerifiedTokens<ReturnType<typeof claims>>();
    tokens.remember('t1', 'secret-1', claims(), 1_000);
    expect(tokens.known('t1', 999)).toBe(true);
    expect(tokens.unchecked('t1', 999)?.iss).toBe('tenant-a');
    expect(tokens.known('t1', 1_000)).toBe(false);
    expect(tokens.unchecked('t1', 1_000)).toBeUndefined();
    expect(tokens.known('other', 0)).toBe(false);
  });

  it('keeps at most `max` tokens, dropping the oldest', () => {
    const tokens = new VerifiedTokens<ReturnType<typeof claims>>(3);
    for (let i = 0; i < 5; i++) tokens.remember(`t${i}`, 's', claims(), 1_000);
    expect(tokens.size).toBe(3);
    expect(['t0', 't1', 't2', 't3', 't4'].map((t) => tokens.known(t, 0))).toEqual([false, false, true, true, true]);
  });

  it('freezes the claims it hands to every request that brings the token', () => {
    const tokens = new VerifiedTokens<ReturnType<typeof claims>>();
    tokens.remember('t1', 's', claims(), 1_000);
    const c = tokens.claims('t1', 's', 0)!;
    expect(Object.isFrozen(c) && Object.isFrozen(c.context) && Object.isFrozen(c.context.user)).toBe(true);
  });
});
