import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { chainHash, leafHash, subjectRef } from '../audit/audit-format';
import { canonicalScan, canonicalScanBytes } from './canonical-scan';
import { chainHashHex, isCanonicalForm, leafHashHex, leafHashHexOfBytes, subjectRefHex } from './verify-hashes';

/** The scan of `text`'s UTF-8 where it sits between other bytes in a buffer, as chain-batch.ts reads a line. */
function scanInBuffer(text: string): boolean | undefined {
  const bytes = Buffer.from(`7\tab\t${text}\n{"z":`, 'utf8');
  const from = Buffer.byteLength('7\tab\t');
  return canonicalScanBytes(bytes, from, from + Buffer.byteLength(text, 'utf8'));
}

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

  it('give each account its own ref when rows show one salt with different accounts', () => {
    const salt = Buffer.alloc(16, 7);
    for (const account of ['acc-1', 'acc-2', 'acc-1', '', 'acc-2']) {
      expect(subjectRefHex(salt.toString('hex'), account)).toBe(subjectRef(salt, account));
    }
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
        expect(isCanonicalForm(doc, text, scanInBuffer(text))).toBe(canonicalize(doc) === text);
      }),
      { numRuns: 3000 },
    );
    // Integer-like keys, which V8 enumerates first, and a duplicate key.
    for (const text of ['{"10":1,"9":2}', '{"9":2,"10":1}', '{"a":1,"a":2}', '{"a":2}', '{"b":1,"a":2}', '{"a":1.0}', '{"a":"\\u00e9"}']) {
      expect(isCanonicalForm(JSON.parse(text), text)).toBe(canonicalize(JSON.parse(text)) === text);
    }
  });

  it('agrees with it on texts written every way JSON allows: escapes, number forms, white space, keys', () => {
    /** What canonicalize decides; a number read as Infinity has no RFC 8785 form. */
    const reference = (text: string) => {
      try {
        return canonicalize(JSON.parse(text)) === text;
      } catch {
        return false;
      }
    };
    // One UTF-16 unit of a string written as JSON.stringify writes it, or as \uXXXX (either case), or a short escape.
    const unit = fc.integer({ min: 0, max: 0xffff }).chain((code) => {
      const ch = String.fromCharCode(code);
      const hex = code.toString(16).padStart(4, '0');
      const ways = [JSON.stringify(ch).slice(1, -1), `\\u${hex}`, `\\u${hex.toUpperCase()}`];
      if (code === 0x2f) ways.push('\\/');
      if (code >= 0x20 && code !== 0x22 && code !== 0x5c) ways.push(ch); // as itself, a lone surrogate too
      return fc.constantFrom(...ways);
    });
    const str = fc.array(fc.oneof(unit, fc.constantFrom('a', 'b', 'é', '😀', '\\n', '\\u001f')), { maxLength: 6 }).map((us) => `"${us.join('')}"`);
    const num = fc.constantFrom('0', '-0', '7', '-7', '1.0', '1.5', '1e2', '1E2', '100', '1e21', '1e+21', '0.1', '1e-7', '1e-6', '0.000001', '1e999', '-1e999',
      '123456789012345', '1234567890123456', '12345678901234567890', '5e-324', '9007199254740993');
    const value = fc.oneof(str, num, fc.constantFrom('true', 'false', 'null', '[]', '{}', '[1,"a"]'));
    const ws = fc.constantFrom('', '', '', ' ', '\n', '\t');
    const text = fc.array(fc.tuple(fc.oneof(str, fc.constantFrom('"a"', '"b"', '"10"', '"9"', '"A"', '"é"', '"😀"')), value, ws), { maxLength: 5 }).chain((members) =>
      fc.boolean().map((nest) => {
        const obj = `{${members.map(([k, v, w]) => `${k}${w}:${v}`).join(',')}}`;
        return nest ? `{"z":[${obj},${obj}],"a":${obj}}` : obj;
      }),
    );
    let shownCanonical = 0;
    let settledByScan = 0;
    fc.assert(
      fc.property(text, (t) => {
        let doc: unknown;
        try {
          doc = JSON.parse(t);
        } catch {
          return; // only texts JSON.parse reads reach the check
        }
        const canonical = reference(t);
        if (canonical) shownCanonical++;
        expect(isCanonicalForm(doc, t)).toBe(canonical);
        // The scan of the bytes alone, where it answers, answers right; where it cannot tell, the comparison does.
        const scanned = scanInBuffer(t);
        if (scanned !== undefined) {
          settledByScan++;
          expect(scanned).toBe(canonical);
        }
        expect(isCanonicalForm(doc, t, scanned)).toBe(canonical);
      }),
      { numRuns: 5000 },
    );
    // Both answers come up often enough to mean something.
    expect(shownCanonical).toBeGreaterThan(500);
    expect(settledByScan).toBeGreaterThan(2500);
    for (const t of ['{"a":1e999}', '{"a":"\\ud83d"}', '{"a":"\\ud83d\\ude00"}', '{"\\u0061":1}', '{"a":"\\/"}', '{"a":"\\u001F"}', '{"a":"\\u001f"}', '{ "a":1}', '{"b":{"y":1,"x":2},"a":1}',
      '{"a":"\udc00\udc00"}', '{"a":"\ud800\ud800"}', '{"a":"\ud800"}', '{"a":"x\udc00"}']) {
      expect(isCanonicalForm(JSON.parse(t), t)).toBe(reference(t));
      expect(isCanonicalForm(JSON.parse(t), t, scanInBuffer(t))).toBe(reference(t));
    }
  });

  it('settles an event text from its bytes, and leaves to the comparison what UTF-8 cannot show', () => {
    const event = canonicalize({ action: 'decision.approved', at: '2026-01-01T00:00:00.001Z', data: { comment: 'a "b", c\nd ü ✓ 😀', round: 1 }, seq: 12, v: 1 })!;
    expect(scanInBuffer(event)).toBe(true);
    expect(canonicalScan(event)).toBe(true);
    expect(scanInBuffer(event.replace('"round":1', '"round":1.0'))).toBe(false);
    expect(scanInBuffer(event.replace('{"action"', '{"zz":1,"action"'))).toBe(false);
    // A lone surrogate is U+FFFD in UTF-8, as is U+FFFD itself: only the parsed object can tell them apart.
    expect(canonicalScan('{"a":"\ud800"}')).toBeUndefined();
    expect(scanInBuffer('{"a":"\ufffd"}')).toBeUndefined();
    expect(isCanonicalForm({ a: '\ufffd' }, '{"a":"\ufffd"}', scanInBuffer('{"a":"\ufffd"}'))).toBe(true);
    // A number token of any length (a spread of its bytes into arguments would overflow the stack).
    for (const big of [`{"a":1${'0'.repeat(300_000)}}`, `{"a":0.${'1'.repeat(300_000)}}`]) {
      expect(scanInBuffer(big)).toBe(false);
      expect(canonicalScan(big)).toBe(false);
    }
    // A key beyond ASCII: UTF-8 orders U+FFxx after U+1F600, UTF-16 code units before it.
    const keys = '{"\uff01":1,"😀":2}';
    expect(scanInBuffer(keys)).toBeUndefined();
    expect(isCanonicalForm(JSON.parse(keys), keys, scanInBuffer(keys))).toBe(canonicalize(JSON.parse(keys)) === keys);
  });
});
