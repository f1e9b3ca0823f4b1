import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { chainHash, leafHash, subjectRef } from '../audit/audit-format';
import { chainHashHex, isCanonicalForm, leafHashHex, leafHashHexOfBytes, subjectRefHex } from './verify-hashes';

describe("the verifier's one-shot hashes and RFC 8785 check", () => {
  it('hash exactly as the audit format does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (text, a, b) => {
        const prev = Buffer.from(a);
        const leaf = Buffer.from(b);
        expect(leafHashHex(text)).toBe(leafHash(text).toString('hex'));
        expect(chainHashHex(prev.toString('hex'), leaf.toString('hex'))).toBe(chainHash(prev, leaf).toString('hex'));
        expect(subjectRefHex(prev.subarray(0, 16).toString('hex'), text)).toBe(subjectRef(prev.subarray(0, 16), text));
      }),
      { numRuns: 500 },
    );
  });

  it("hash a text's UTF-8 bytes, wherever they sit in a buffer, as they hash the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme', maxLength: 6000 }), (before, after, text) => {
        const bytes = Buffer.from(`${before}${text}${after}`, 'utf8');
        const from = Buffer.byteLength(before, 'utf8');
        expect(leafHashHexOfBytes(bytes, from, from + Buffer.byteLength(text, 'utf8'))).toBe(leafHashHex(text));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with canonicalize(JSON.parse(text)) === text on any JSON text, canonical or not', () => {
    const json = fc.json({ depthSize: 'small' });
    const reordered = fc.jsonValue({ depthSize: 'small' }).map((v) => JSON.stringify(v));
    const canonical = fc.jsonValue({ depthSize: 'small' }).map((v) => canonicalize(v)!);
    fc.assert(
      fc.property(fc.oneof(json, reordered, canonical), (text) => {
        const doc = JSON.parse(text);
        expect(isCanonicalForm(doc, text)).toBe(canonicalize(doc) === text);
      }),
      { numRuns: 3000 },
    );
    // Integer-like keys, which V8 enumerates first, and a duplicate key.
    for (const text of ['{"10":1,"9":2}', '{"9":2,"10":1}', '{"a":1,"a":2}', '{"a":2}', '{"b":1,"a":2}', '{"a":1.0}', '{"a":"\\u00e9"}']) {
      expect(isCanonicalForm(JSON.parse(text), text)).toBe(canonicalize(JSON.parse(text)) === text);
    }
  });
});
