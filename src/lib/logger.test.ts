import { Writable } from 'node:stream';
import * as jwt from 'atlassian-jwt';
import pino from 'pino';
import { aceLogger, scrub, scrubText } from './logger';

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

describe('aceLogger', () => {
  const capture = () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) });
    return { log: aceLogger(pino({ level: 'debug' }, sink)), text: () => lines.join('') };
  };
  const token = jwt.encodeSymmetric({ iss: 'tenant', sub: 'someone', qsh: 'context-qsh', iat: 1, exp: 2 }, 'the-real-secret', jwt.SymmetricAlgorithm.HS256);
  const [header, payload, signature] = token.split('.');
  /** The message ACE 11.5.3 logs for a bad signature, from atlassian-jwt itself. */
  const aceMessage = () => {
    try {
      jwt.decodeSymmetric(token, 'another-secret', jwt.SymmetricAlgorithm.HS256, false);
    } catch (e) {
      return `Authentication verification error (400):  Unable to decodeSymmetric JWT token: ${e}`;
    }
    throw new Error('the signature was accepted');
  };

  it("logs no part of a token when ACE quotes the signing input ('Signature verification failed for input: …')", () => {
    const message = aceMessage();
    expect(message).toContain(`for input: ${header}.${payload}`);
    const { log, text } = capture();
    log.warn({}, message);
    expect(text()).toMatch(/Unable to decodeSymmetric JWT token: \[redacted\]/);
    for (const part of [header, payload, signature]) expect(text()).not.toContain(part);
  });

  it('logs no part of the claims when ACE quotes a decoding error', () => {
    const { log, text } = capture();
    log.warn({}, `Authentication verification error (401):  Invalid JWT: Unexpected token, "${payload}" is not valid JSON`);
    expect(text()).not.toContain(payload);
  });
});
