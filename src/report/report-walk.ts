/**
 * The report's pass over the chain: every row re-hashed and linked from genesis, the events of the scope's spaces
 * handed to the builder. Fed one row at a time, so that an evidence pack can feed it from the same read of the
 * snapshot that writes events.csv (issue 15: the pack read the chain twice), and the report alone from its own.
 */
import { genesisHash } from '../audit/audit-format';
import { type EvidenceEvent, parseCanonical } from '../evidence/evidence-csv';
import { chainHashHex, leafHashHex } from '../evidence/verify-hashes';
import type { IntegrityFacts } from './report-html';
import type { ReportBuilder, ReportEvent } from './report-model';

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' ? (v as Record<string, unknown>) : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * One canonical text as the report's event; null when it cannot be read (the chain check names that row).
 * `parsed`: the text as parseCanonical read it, when the caller has it (an evidence pack's pass).
 */
export function toReportEvent(e: EvidenceEvent, parsed?: unknown): ReportEvent | null {
  if (e.canonical === null) return null;
  const read = parsed !== undefined ? parsed : parseCanonical(e.canonical);
  if (!read || typeof read !== 'object' || Array.isArray(read)) return null;
  const doc = read as Record<string, unknown>;
  const at = typeof doc.at === 'string' ? Date.parse(doc.at) : NaN;
  if (Number.isNaN(at) || typeof doc.action !== 'string') return null;
  const page = obj(doc.page);
  const actor = obj(doc.actor) ?? {};
  return {
    seq: e.seq,
    at,
    action: doc.action,
    space: strOrNull(doc.space),
    page: page ? { id: strOrNull(page.id), title: strOrNull(page.title), version: typeof page.version === 'number' ? page.version : null } : null,
    workflow: strOrNull(doc.workflow),
    actor: { type: strOrNull(actor.type) ?? 'unknown', ref: strOrNull(actor.ref) },
    accountId: e.accountId,
    data: obj(doc.data) ?? {},
  };
}

/**
 * Takes the tenant's rows from seq 1 in order, re-checking every hash and link, and hands the events of the
 * scope's spaces up to `end` to the builder; notes the chain hash at each checkpoint's seq. Rows after `end`
 * (up to the covering checkpoint) come without their text: only their link is checked.
 */
export class ChainWalk {
  readonly chain: IntegrityFacts['chain'] = { rows: 0, lastSeq: null, ok: true, failure: null };
  readonly chainAt = new Map<number, string>();
  /** The chain hash of the row before, hex. */
  private prev: string;
  private expected = 1;
  /** A canonical text (RFC 8785) of an event in the space holds this exactly: other spaces' events need no parsing. */
  private readonly needles: string[] | null;

  constructor(
    private readonly w: { clientKey: string; end: number; spaces: readonly string[] | null; checkpoints: ReadonlySet<number>; builder: ReportBuilder },
  ) {
    this.prev = genesisHash(w.clientKey).toString('hex');
    this.needles = w.spaces === null ? null : w.spaces.map((k) => `"space":${JSON.stringify(k)}`);
  }

  private fail(seq: number, reason: string): void {
    if (this.chain.ok) this.chain.failure = { seq, reason };
    this.chain.ok = false;
  }

  /**
   * The next row (seq order); `parsed` as toReportEvent takes it. Hashed with the verifier's one-shot functions
   * (verify-hashes.ts, held equal to audit-format's): the hashes come from the database as 64 lower-case hex.
   */
  push(e: EvidenceEvent, parsed?: unknown): void {
    if (e.seq !== this.expected) this.fail(e.seq, `seq ${this.expected} is missing`);
    this.expected = e.seq + 1;
    if (e.canonical !== null && leafHashHex(e.canonical) !== e.leafHash) this.fail(e.seq, 'its leaf hash does not recompute from its canonical text');
    if (chainHashHex(this.prev, e.leafHash) !== e.chainHash) this.fail(e.seq, 'its chain hash does not follow from the row before');
    this.prev = e.chainHash;
    if (this.w.checkpoints.has(e.seq)) this.chainAt.set(e.seq, e.chainHash);
    this.chain.rows++;
    this.chain.lastSeq = e.seq;
    if (e.seq > this.w.end || e.canonical === null) return;
    if (this.needles !== null && !this.needles.some((n) => e.canonical!.includes(n))) return;
    const ev = toReportEvent(e, parsed);
    if (ev) this.w.builder.add(ev);
    else this.fail(e.seq, 'its canonical text is not an audit event');
  }

  /** After the last row: the chain must reach `readTo`. */
  end(readTo: number): IntegrityFacts['chain'] {
    if (this.chain.lastSeq !== readTo && readTo > 0) this.fail(readTo, `the chain ends at seq ${this.chain.lastSeq ?? 0}`);
    return this.chain;
  }
}
