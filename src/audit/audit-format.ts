/**
 * Audit chain format v1 (docs/audit-format.md): canonical encoding, hashes and verification.
 * Pure apart from reading the async iterable handed to `verifyRows`.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export const FORMAT_VERSION = 1;
const GENESIS_PREFIX = 'attest-audit-v1\n';
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export type ActorType = 'user' | 'system' | 'confluence';
export const ACTOR_TYPES: readonly ActorType[] = ['user', 'system', 'confluence'];

export interface CanonicalPage {
  id: string;
  version: number;
  title: string;
  /** Lower-case hex SHA-256 of the page body, or null when not known. */
  bodyHash: string | null;
}

/** The object whose RFC 8785 form is an event's canonical text. */
export interface CanonicalEvent {
  v: 1;
  tenant: string;
  seq: number;
  at: string;
  action: string;
  actor: { type: ActorType; ref: string | null };
  space: string | null;
  page: CanonicalPage | null;
  workflow: string | null;
  data: Record<string, unknown>;
}

/** "YYYY-MM-DDTHH:MM:SS.ffffffZ", always UTC and always six fraction digits. */
export const AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** PostgreSQL `to_char` pattern producing AT_PATTERN from a timestamp taken `AT TIME ZONE 'UTC'`. */
export const PG_AT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

const HEX32 = /^[0-9a-f]{64}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isHashHex(value: unknown): value is string {
  return typeof value === 'string' && HEX32.test(value);
}

export function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** RFC 8785 (JCS) text of an event. */
export function canonicalText(event: CanonicalEvent): string {
  const text = canonicalize(event);
  if (text === undefined) throw new TypeError('audit event cannot be canonicalised');
  return text;
}

/** SHA-256(0x00 ‖ utf8(canonical)). */
export function leafHash(canonical: string): Buffer {
  return sha256(LEAF_PREFIX, Buffer.from(canonical, 'utf8'));
}

/** SHA-256(0x01 ‖ prev_chain_hash ‖ leaf_hash), both 32 raw bytes. */
export function chainHash(prevChainHash: Buffer, leaf: Buffer): Buffer {
  if (prevChainHash.length !== 32 || leaf.length !== 32) throw new TypeError('chain hashes are 32 bytes');
  return sha256(NODE_PREFIX, prevChainHash, leaf);
}

/** The prev_chain_hash of seq 1: SHA-256(utf8("attest-audit-v1\n" + clientKey)). */
export function genesisHash(clientKey: string): Buffer {
  return sha256(Buffer.from(GENESIS_PREFIX + clientKey, 'utf8'));
}

/** hex SHA-256(salt ‖ utf8(accountId)): how a person appears in the chain. */
export function subjectRef(salt: Buffer, accountId: string): string {
  return sha256(salt, Buffer.from(accountId, 'utf8')).toString('hex');
}

/**
 * Where a value cannot be represented exactly in JSON (undefined, functions, NaN, BigInt, Dates,
 * class instances, lone surrogates), the path to it; null when the value is plain JSON.
 */
export function nonJsonPath(value: unknown, path = '$'): string | null {
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = nonJsonPath(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
    return null;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return path;
    for (const [k, v] of Object.entries(value)) {
      if (LONE_SURROGATE.test(k)) return path;
      const bad = nonJsonPath(v, `${path}.${k}`);
      if (bad) return bad;
    }
    return null;
  }
  return path;
}

/** One stored event as the verifier reads it. */
export interface ChainRow {
  seq: number;
  /** recorded_at formatted like `at`. */
  recordedAt: string;
  action: string;
  spaceKey: string | null;
  pageId: string | null;
  workflowId: string | null;
  actorRef: string | null;
  canonical: string;
  leafHash: Buffer;
  chainHash: Buffer;
}

export interface VerifyRowsOptions {
  /** First seq expected (default 1). */
  fromSeq?: number;
  /** Chain hash of seq fromSeq-1; required when fromSeq > 1 (seq 1 follows the genesis hash). */
  prevChainHash?: Buffer;
  /** Last seq to verify; rows after it are ignored. */
  toSeq?: number;
  /**
   * The tenant's head row. When given, the rows must reach it (or toSeq) and, when they reach it,
   * end in its chain hash; null means the head row is missing. Undefined: not checked.
   */
  head?: { seq: number; chainHash: Buffer | null } | null;
}

export type VerifyResult =
  | {
      ok: true;
      rows: number;
      firstSeq: number | null;
      lastSeq: number | null;
      /** Hex chain hash of the last verified row (the start hash when there were none). */
      head: string;
    }
  | {
      ok: false;
      /** The first seq found bad (or missing). */
      seq: number;
      /** Human sentence naming the seq, e.g. "seq 17: leaf hash does not match canonical". */
      reason: string;
    };

function fail(seq: number, reason: string): VerifyResult {
  return { ok: false, seq, reason };
}

/** Checks one row's canonical text against itself and the stored columns; null when it agrees. */
function contentProblem(clientKey: string, row: ChainRow, prevAt: string | null): string | null {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(row.canonical);
  } catch {
    return 'canonical is not valid JSON';
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'canonical is not a JSON object';
  if (canonicalize(doc) !== row.canonical) return 'canonical is not in RFC 8785 form';
  if (doc.v !== FORMAT_VERSION) return `canonical has format version ${JSON.stringify(doc.v)}, expected 1`;
  if (doc.seq !== row.seq) return `canonical says seq ${JSON.stringify(doc.seq)}`;
  if (doc.tenant !== clientKey) return `canonical belongs to tenant ${JSON.stringify(doc.tenant)}`;
  if (doc.action !== row.action) return `action column ${JSON.stringify(row.action)} does not match canonical ${JSON.stringify(doc.action)}`;
  if (typeof doc.at !== 'string' || !AT_PATTERN.test(doc.at)) return `canonical at ${JSON.stringify(doc.at)} is not a UTC microsecond timestamp`;
  if (doc.at !== row.recordedAt) return `recorded_at ${row.recordedAt} does not match canonical at ${doc.at}`;
  if (prevAt !== null && doc.at < prevAt) return `at ${doc.at} is before the previous event's ${prevAt}`;
  const actor = doc.actor as { type?: unknown; ref?: unknown } | null;
  if (!actor || typeof actor !== 'object' || !ACTOR_TYPES.includes(actor.type as ActorType)) return 'canonical actor is malformed';
  const ref = actor.ref ?? null;
  if (ref !== row.actorRef) return `actor_ref column does not match canonical actor.ref`;
  if ((doc.space ?? null) !== row.spaceKey) return 'space_key column does not match canonical space';
  const page = doc.page as { id?: unknown } | null;
  if ((page?.id ?? null) !== row.pageId) return 'page_id column does not match canonical page.id';
  if ((doc.workflow ?? null) !== row.workflowId) return 'workflow_id column does not match canonical workflow';
  return null;
}

/**
 * Recomputes the chain over rows given in seq order: seq continuity, leaf and chain hashes from the
 * stored canonical text, the canonical's own fields against the columns, and (optionally) the head.
 * Stops at the first bad row. Holds one row at a time, so it suits any number of rows.
 */
export async function verifyRows(
  clientKey: string,
  rows: AsyncIterable<ChainRow>,
  opts: VerifyRowsOptions = {},
): Promise<VerifyResult> {
  const fromSeq = opts.fromSeq ?? 1;
  if (fromSeq > 1 && !opts.prevChainHash) throw new TypeError('prevChainHash is required when fromSeq > 1');
  const startHash = fromSeq > 1 ? opts.prevChainHash! : genesisHash(clientKey);
  const head = opts.head;

  let prev = startHash;
  let prevAt: string | null = null;
  let expected = fromSeq;
  let count = 0;
  for await (const row of rows) {
    if (opts.toSeq !== undefined && row.seq > opts.toSeq) break;
    if (row.seq !== expected) {
      return row.seq > expected
        ? fail(expected, `seq ${expected} missing (found ${row.seq})`)
        : fail(row.seq, `seq ${row.seq} out of order (expected seq ${expected})`);
    }
    if (head === null) return fail(row.seq, `seq ${row.seq}: the tenant has events but no head row`);
    if (head && row.seq > head.seq) return fail(row.seq, `seq ${row.seq}: beyond the head (head is at seq ${head.seq})`);
    const leaf = leafHash(row.canonical);
    if (!leaf.equals(row.leafHash)) return fail(row.seq, `seq ${row.seq}: leaf hash does not match canonical`);
    const chain = chainHash(prev, leaf);
    if (!chain.equals(row.chainHash)) {
      const from = row.seq === 1 ? 'the genesis hash' : `seq ${row.seq - 1}`;
      return fail(row.seq, `seq ${row.seq}: chain hash does not follow from ${from}`);
    }
    const problem = contentProblem(clientKey, row, prevAt);
    if (problem) return fail(row.seq, `seq ${row.seq}: ${problem}`);
    prevAt = row.recordedAt;
    prev = chain;
    expected++;
    count++;
  }

  const lastSeq = expected - 1;
  if (head) {
    const end = opts.toSeq !== undefined ? Math.min(opts.toSeq, head.seq) : head.seq;
    if (lastSeq < end) {
      return fail(expected, `seq ${expected} missing (the events end at seq ${lastSeq}, the head is at seq ${head.seq})`);
    }
    if (lastSeq === head.seq && head.seq >= fromSeq && !(head.chainHash && head.chainHash.equals(prev))) {
      return fail(lastSeq, `seq ${lastSeq}: the head's chain hash does not match this event`);
    }
  }
  return { ok: true, rows: count, firstSeq: count ? fromSeq : null, lastSeq: count ? lastSeq : null, head: prev.toString('hex') };
}
