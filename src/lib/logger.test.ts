import { scrub, scrubText } from './logger';

/** The pattern scrubText implemented before, as the reference for what counts as a JWT. */
const REFERENCE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
const reference = (text: string) => text.replace(REFERENCE, '[jwt]').replace(/([?&](?:jwt|acpt)=)[^&\s]*/g, '$1[jwt]');

describe('scrubText', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl';

  it.each([
    [`/macro/${jwt}/x`, '/macro/[jwt]/x'],
    [`Bearer ${jwt}`, 'Bearer [jwt]'],
    [`prefix${jwt}.extra`, 'prefix[jwt].extra'],
    ['eyJabcde.only-two', 'eyJabcde.only-two'],
    ['eyJabcde..', '[jwt]'],
    ['eyJabc.too.short', 'eyJabc.too.short'],
    [`/a?jwt=${jwt}&b=1`, '/a?jwt=[jwt]&b=1'],
    ['/a?acpt=opaque&b=1', '/a?acpt=[jwt]&b=1'],
    ['no token here', 'no token here'],
  ])('%s → %s', (input, expected) => {
    expect(scrubText(input)).toBe(expected);
  });

  it('agrees with the reference pattern on mixed input', () => {
    const pieces = ['eyJ', 'abcde', '.', '-', '_', '/', ' ', 'x', 'eyJabcdef', jwt, '?', '&jwt=', '..'];
    let seed = 7;
    for (let n = 0; n < 500; n += 1) {
      let text = '';
      for (let k = 0; k < 12; k += 1) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        text += pieces[seed % pieces.length];
      }
      expect(scrubText(text)).toBe(reference(text));
    }
  });

  it('takes milliseconds, not seconds, on a 64k path of eyJ repeats (anyone can send one)', () => {
    const adversarial = `/${'eyJ'.repeat(64 * 1024 / 3)}`;
    const started = process.hrtime.bigint();
    expect(scrubText(adversarial)).toBe(adversarial);
    expect(scrubText(`${adversarial}.a.b`)).toBe('/[jwt]');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(ms).toBeLessThan(200);
  });

  it('scrub() redacts secret-looking keys and JWTs in nested values', () => {
    expect(scrub({ sharedSecret: 's', nested: { url: `/x?jwt=${jwt}` } })).toEqual({
      sharedSecret: '[redacted]',
      nested: { url: '/x?jwt=[jwt]' },
    });
  });
});
