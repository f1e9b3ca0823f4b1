/**
 * The report's pass over the chain: every row re-hashed and linked from genesis, the events of the scope's spaces
 * handed to the builder. Fed one row at a time, so that an evidence pack can feed it from the same read of the
 * snapshot that writes events.csv (issue 15: the pack read the chain twice), and the report alone from its own.
 */
import { chainHash, genesisHash, leafHash } from '../audit/audit-format';
import type { EvidenceEvent } from '../evidence/evidence-csv';
import type { IntegrityFacts } from './report-html';
import type { ReportBuilder, ReportEvent } from './report-model';

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' ? (v as Record<string, unknown>) : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** One canonical text as the report's event; null when it cannot be read (the chain check names that row). */
export function toReportEvent(e: EvidenceEvent): ReportEvent | null {
  if (e.canonical === null) return null;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(e.canonical) as Record<string, unknown>;
  } catch {
    return null;
  }
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
  private prev: Buffer;
  private expected = 1;
  /** A canonical text (RFC 8785) of an event in the space holds this exactly: other spaces' events need no parsing. */
  private readonly needles: string[] | null;

  constructor(
    private readonly w: { clientKey: string; end: number; spaces: readonly string[] | null; checkpoints: ReadonlySet<number>; builder: ReportBuilder },
  ) {
    this.prev = genesisHash(w.clientKey);
    this.needles = w.spaces === null ? null : w.spaces.map((k) => `"space":${JSON.stringify(k)}`);
  }

  private fail(seq: number, reason: string): void {
    if (this.chain.ok) this.chain.failure = { seq, reason };
    this.chain.ok = false;
  }

  /** The next row (seq order). */
  push(e: EvidenceEvent): void {
    if (e.seq !== this.expected) this.fail(e.seq, `seq ${this.expected} is missing`);
    this.expected = e.seq + 1;
    if (e.canonical !== null && leafHash(e.canonical).toString('hex') !== e.leafHash) this.fail(e.seq, 'its leaf hash does not recompute from its canonical text');
    const next = chainHash(this.prev, Buffer.from(e.leafHash, 'hex'));
    if (next.toString('hex') !== e.chainHash) this.fail(e.seq, 'its chain hash does not follow from the row before');
    this.prev = Buffer.from(e.chainHash, 'hex');
    if (this.w.checkpoints.has(e.seq)) this.chainAt.set(e.seq, e.chainHash);
    this.chain.rows++;
    this.chain.lastSeq = e.seq;
    if (e.seq > this.w.end || e.canonical === null) return;
    if (this.needles !== null && !this.needles.some((n) => e.canonical!.includes(n))) return;
    const ev = toReportEvent(e);
    if (ev) this.w.builder.add(ev);
    else this.fail(e.seq, 'its canonical text is not an audit event');
  }

  /** After the last row: the chain must reach `readTo`. */
  end(readTo: number): IntegrityFacts['chain'] {
    if (this.chain.lastSeq !== readTo && readTo > 0) this.fail(readTo, `the chain ends at seq ${this.chain.lastSeq ?? 0}`);
    return this.chain;
  }
}
