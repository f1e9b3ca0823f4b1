/**
 * The verifier's per-row work, done with one-shot hashing (issue 15): `crypto.hash` costs a third of a
 * `createHash` object, and hex in, hex out avoids a Buffer per hash. Same functions as src/audit/audit-format.ts
 * (a test holds them equal); kept here so the hot path allocates as little as it can.
 */
import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { canonicalScan } from './canonical-scan';

/** hex SHA-256(0x00 ‖ utf8(canonical)). */
export function leafHashHex(canonical: string): string {
  return hash('sha256', `\0${canonical}`, 'hex');
}

/** Room for 0x00 ‖ a canonical text's bytes, reused. */
let leafRoom = Buffer.alloc(1 << 12);

/**
 * leafHashHex of the text whose UTF-8 is `bytes[from, to)`: hashed from the bytes, without a string. Only for
 * bytes that are valid UTF-8 (decoding anything else replaces bytes, and the text's hash is of what it decodes to).
 */
export function leafHashHexOfBytes(bytes: Uint8Array, from: number, to: number): string {
  const n = to - from + 1;
  if (leafRoom.length < n) leafRoom = Buffer.alloc(Math.max(n, leafRoom.length * 2));
  leafRoom[0] = 0;
  leafRoom.set(bytes.subarray(from, to), 1);
  return hash('sha256', leafRoom.subarray(0, n), 'hex');
}

const node = Buffer.alloc(65);
node[0] = 0x01;

/** hex SHA-256(0x01 ‖ prev ‖ leaf), both given as 64 lower-case hex characters (checked by the caller). */
export function chainHashHex(prevHex: string, leafHex: string): string {
  node.write(prevHex, 1, 32, 'hex');
  node.write(leafHex, 33, 32, 'hex');
  return hash('sha256', node, 'hex');
}

/** Refs already computed: an export shows the same few subjects on many rows. Bounded; emptied when full. */
const refs = new Map<string, string>();
const MAX_REFS = 10_000;

/** hex SHA-256(salt ‖ utf8(accountId)). */
export function subjectRefHex(saltHex: string, accountId: string): string {
  const key = `${saltHex}\n${accountId}`;
  let ref = refs.get(key);
  if (ref === undefined) {
    ref = hash('sha256', Buffer.concat([Buffer.from(saltHex, 'hex'), Buffer.from(accountId, 'utf8')]), 'hex');
    if (refs.size >= MAX_REFS) refs.clear();
    refs.set(key, ref);
  }
  return ref;
}

/** Every object's keys, in the order JSON.stringify writes them, strictly ascending by UTF-16 code units. */
function keysSorted(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (Array.isArray(v)) {
    for (const x of v) if (!keysSorted(x)) return false;
    return true;
  }
  let prev: string | null = null;
  for (const k in v as Record<string, unknown>) {
    if (prev !== null && !(prev < k)) return false;
    prev = k;
    if (!keysSorted((v as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * Whether `text` (which JSON.parse read as `doc`) is the RFC 8785 form of `doc`: `canonicalize(doc) === text`.
 * Mostly settled by reading the text once (canonical-scan.ts; `scanned`: that scan's answer when the caller read the
 * text's bytes already, chain-batch.ts). Where that cannot tell: JCS writes strings and
 * numbers exactly as JSON.stringify does and differs only in key order, so when JSON.stringify gives back `text`
 * with every object's keys already sorted, the two agree; otherwise (unsorted keys, or integer-like keys, which V8
 * enumerates first) canonicalize decides. A number JSON.parse read as Infinity has no RFC 8785 form (canonicalize
 * throws on it): not canonical.
 */
export function isCanonicalForm(doc: unknown, text: string, scanned = canonicalScan(text)): boolean {
  if (scanned !== undefined) return scanned;
  if (JSON.stringify(doc) === text && keysSorted(doc)) return true;
  try {
    return canonicalize(doc) === text;
  } catch {
    return false;
  }
}
