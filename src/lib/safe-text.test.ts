import { safeText, sanitiseDeep, sanitiseText, textProblem, unsafeTextPath } from './safe-text';

describe('storable text', () => {
  it.each([
    ['plain', null],
    ['emoji 😀 and accents é', null],
    ['a\u0000b', 'must not contain a NUL character'],
    ['\ud800', 'must be valid Unicode text'],
    ['x\udc00', 'must be valid Unicode text'],
    ['\udbff\udfff', null],
    ['\udc00\ud800', 'must be valid Unicode text'],
  ])('%j → %s', (text, problem) => {
    expect(textProblem(text)).toBe(problem);
  });

  it('sanitises NULs and lone surrogates to U+FFFD and keeps pairs', () => {
    expect(sanitiseText('a\u0000b\ud800c😀\udc00')).toBe('a\ufffdb\ufffdc😀\ufffd');
    expect(sanitiseDeep({ 'k\u0000': ['\ud800', 1, null, { t: 'ok' }] })).toEqual({ 'k\ufffd': ['\ufffd', 1, null, { t: 'ok' }] });
  });

  it('names the first unstorable string or key of a JSON value', () => {
    expect(unsafeTextPath({ a: [1, 'ok', { b: 'x\u0000' }] })).toBe('a[2].b');
    expect(unsafeTextPath({ a: { '\u0000': 1 } })).toBe('a.(a key)');
    expect(unsafeTextPath({ a: 'fine', n: 3 })).toBeNull();
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100; i += 1) deep = [deep];
    expect(unsafeTextPath(deep, '', 32)).not.toBeNull();
  });

  it('safeText fails with a message that names the field', () => {
    const schema = safeText({ min: 1, max: 5, name: 'comment' });
    expect(schema.safeParse('ok').success).toBe(true);
    expect(schema.safeParse('a\u0000').error?.issues[0].message).toBe('comment must not contain a NUL character');
    expect(schema.safeParse('toolong').error?.issues[0].message).toBe('comment must be at most 5 characters');
    expect(schema.safeParse(3).error?.issues[0].message).toBe('comment must be a string');
    expect(schema.safeParse('').success).toBe(false);
  });
});
