/**
 * Whether a JSON text is in RFC 8785 form, read from the text alone in one pass. It costs about what JSON.stringify
 * of the parsed object and a comparison cost (1.1–1.8 µs per event text, bench/README.md "Verify, 2026-12-03"),
 * needs no object, and settles a number JSON.parse reads as Infinity, on which canonicalize throws. The form is what
 * `canonicalize` writes: no white space, every object's keys in strictly ascending order of UTF-16 code units,
 * strings as JSON.stringify writes them, numbers as ECMAScript's Number::toString writes them.
 *
 * Only for a text JSON.parse accepted: its grammar is not checked again. Answers undefined where the text alone
 * does not settle it cheaply (a \u escape of a surrogate, a lone surrogate, a key with an escape): the caller
 * then serialises the parsed object and compares (verify-hashes.ts isCanonicalForm).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A string's end that is not in canonical form, or that the scan leaves to the caller. */
const NOT_CANONICAL = -1;
const UNSURE = -2;

/** Whether the last string scanned held an escape. */
let escaped = false;

const isHexDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/**
 * `\u` + 4 hex digits at `at` (the backslash): canonical only for a control character that has no short escape,
 * in lower-case hex, which is how JSON.stringify writes it; any other character it writes as itself, except a
 * lone surrogate, which it escapes: whether one is lone is left to the caller.
 */
function unicodeEscape(text: string, at: number): number {
  for (let k = 2; k < 6; k++) if (!isHexDigit(text.charCodeAt(at + k))) return NOT_CANONICAL;
  const hex = text.slice(at + 2, at + 6);
  const code = parseInt(hex, 16);
  if (code >= 0xd800 && code <= 0xdfff) return UNSURE;
  if (code >= 0x20 || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return NOT_CANONICAL;
  return hex === hex.toLowerCase() ? at + 6 : NOT_CANONICAL;
}

/** The index of the quote that ends the string whose content starts at `from`, or NOT_CANONICAL / UNSURE. */
function stringEnd(text: string, from: number): number {
  escaped = false;
  for (let j = from; j < text.length; ) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) return j;
    if (c === BACKSLASH) {
      escaped = true;
      const e = text.charCodeAt(j + 1);
      // \" \\ \b \f \n \r \t are JSON.stringify's own; \/ it never writes.
      if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) j += 2;
      else if (e === 0x75) {
        j = unicodeEscape(text, j);
        if (j < 0) return j;
      } else return NOT_CANONICAL;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A pair is written as itself; a lone surrogate is escaped (the caller decides).
      const next = text.charCodeAt(j + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return UNSURE;
      j += 2;
    } else if (c < 0x20) {
      return NOT_CANONICAL;
    } else {
      j++;
    }
  }
  return NOT_CANONICAL;
}

/** Code-unit order of text[a, aEnd) against text[b, bEnd): negative, zero or positive. */
function compareRanges(text: string, a: number, aEnd: number, b: number, bEnd: number): number {
  const n = Math.min(aEnd - a, bEnd - b);
  for (let k = 0; k < n; k++) {
    const d = text.charCodeAt(a + k) - text.charCodeAt(b + k);
    if (d !== 0) return d;
  }
  return aEnd - a - (bEnd - b);
}

const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/** A number token as Number::toString writes the number JSON.parse reads from it. */
function canonicalNumber(token: string): boolean {
  // A whole number of up to 15 digits without a leading zero is written as itself (not "-0", which is written "0").
  let k = token.charCodeAt(0) === 0x2d ? 1 : 0;
  const digits = token.length - k;
  if (digits >= 1 && digits <= 15 && (token.charCodeAt(k) !== 0x30 || (digits === 1 && k === 0))) {
    for (; k < token.length; k++) if (token.charCodeAt(k) < 0x30 || token.charCodeAt(k) > 0x39) break;
    if (k === token.length) return true;
  }
  return String(Number(token)) === token;
}

/** See the file's comment: true or false when the text settles it, undefined when the caller must compare. */
export function canonicalScan(text: string): boolean | undefined {
  // Per open object or array (depth ≥ 1): whether it is an object, and where its last key's content lies.
  const isObject: boolean[] = [false];
  const keyFrom: number[] = [-1];
  const keyTo: number[] = [-1];
  let depth = 0;
  let keyNext = false;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i + 1);
      if (end < 0) return end === NOT_CANONICAL ? false : undefined;
      if (keyNext) {
        if (escaped) return undefined;
        if (keyFrom[depth] >= 0 && compareRanges(text, keyFrom[depth], keyTo[depth], i + 1, end) >= 0) return false;
        keyFrom[depth] = i + 1;
        keyTo[depth] = end;
        keyNext = false;
      }
      i = end + 1;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      isObject[depth] = c === 0x7b;
      keyFrom[depth] = -1;
      keyNext = c === 0x7b;
      i++;
    } else if (c === 0x7d || c === 0x5d || c === 0x3a) {
      if (c !== 0x3a) depth--;
      keyNext = false;
      i++;
    } else if (c === 0x2c) {
      keyNext = isObject[depth];
      i++;
    } else if (c === 0x74 || c === 0x6e) {
      i += 4; // true, null
    } else if (c === 0x66) {
      i += 5; // false
    } else if (isNumberChar(c)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
      if (!canonicalNumber(text.slice(i, j))) return false;
      i = j;
    } else {
      return false; // white space: the only other thing a JSON text holds outside its strings
    }
  }
  return true;
}
