import type { KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { chainHash, genesisHash, leafHash } from '../audit/audit-format';
import type { Checkpoint } from '../evidence/evidence-checkpoint';
import { checkpointSignatureValid, keyId } from '../evidence/evidence-checkpoint';
import type { EvidenceEvent } from '../evidence/evidence-csv';
import type { Clock } from '../lib/clock';
import { InputError } from '../lib/errors';
import { IntegrityFacts, renderReport } from './report-html';
import { ReportBuilder, ReportEvent } from './report-model';

/**
 * The audit read path the report uses: the evidence export's (EvidenceStore has this shape), so the report
 * reads exactly what an export would show, from one read-only snapshot.
 */
export interface ReportSource {
  beginSnapshot(): Promise<Knex.Transaction>;
  on(conn: Knex): ReportSource;
  lastSeq(clientKey: string): Promise<number>;
  firstSeqFrom(clientKey: string, from: Date): Promise<number | null>;
  lastSeqBefore(clientKey: string, to: Date): Promise<number | null>;
  canonicalAt(clientKey: string, seq: number): Promise<string | null>;
  events(clientKey: string, opts: { fromSeq: number; toSeq: number; contentToSeq: number }): AsyncGenerator<EvidenceEvent>;
  checkpointsIn(clientKey: string, fromSeq: number, toSeq: number): AsyncGenerator<Checkpoint>;
  checkpointFor(clientKey: string, seq: number, minSeq: number): Promise<Checkpoint | null>;
  spaceKeys(clientKey: string): Promise<string[]>;
}

export interface ReportRequest {
  clientKey: string;
  /** Null: every space of the tenant, or the `spaces` listed. */
  spaceKey: string | null;
  /** With `spaceKey` null: only these spaces (the ones the requester administers); absent: every space. */
  spaces?: readonly string[];
  from: Date | null;
  /** Null: now. */
  to: Date | null;
}

/** One canonical text as the report's event; null when it cannot be read (the chain check names that row). */
function toReportEvent(e: EvidenceEvent): ReportEvent | null {
  if (e.canonical === null) return null;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(e.canonical) as Record<string, unknown>;
  } catch {
    return null;
  }
  const at = typeof doc.at === 'string' ? Date.parse(doc.at) : NaN;
  if (Number.isNaN(at) || typeof doc.action !== 'string') return null;
  const page = doc.page && typeof doc.page === 'object' ? (doc.page as Record<string, unknown>) : null;
  const actor = doc.actor && typeof doc.actor === 'object' ? (doc.actor as Record<string, unknown>) : {};
  return {
    seq: e.seq,
    at,
    action: doc.action,
    space: typeof doc.space === 'string' ? doc.space : null,
    page: page
      ? {
          id: typeof page.id === 'string' ? page.id : null,
          title: typeof page.title === 'string' ? page.title : null,
          version: typeof page.version === 'number' ? page.version : null,
        }
      : null,
    workflow: typeof doc.workflow === 'string' ? doc.workflow : null,
    actor: { type: typeof actor.type === 'string' ? actor.type : 'unknown', ref: typeof actor.ref === 'string' ? actor.ref : null },
    accountId: e.accountId,
    data: doc.data && typeof doc.data === 'object' ? (doc.data as Record<string, unknown>) : {},
  };
}

/**
 * Reads the tenant's chain from seq 1 to `readTo`, re-checking every hash and link, and hands the events of the
 * scope's spaces up to `end` to the builder; notes the chain hash at each checkpoint's seq.
 */
async function walkChain(
  source: ReportSource,
  w: { clientKey: string; readTo: number; end: number; spaces: readonly string[] | null; checkpoints: Map<number, Checkpoint>; builder: ReportBuilder },
): Promise<{ chain: IntegrityFacts['chain']; chainAt: Map<number, string> }> {
  const { clientKey, readTo, end, spaces, checkpoints, builder } = w;
  const chain: IntegrityFacts['chain'] = { rows: 0, lastSeq: null, ok: true, failure: null };
  const chainAt = new Map<number, string>();
  // A canonical text (RFC 8785) of an event in the space holds this exactly: other spaces' events need no parsing.
  const needles = spaces === null ? null : spaces.map((k) => `"space":${JSON.stringify(k)}`);
  let prev = genesisHash(clientKey);
  let expected = 1;
  const fail = (seq: number, reason: string) => {
    if (chain.ok) chain.failure = { seq, reason };
    chain.ok = false;
  };
  if (readTo > 0) {
    for await (const e of source.events(clientKey, { fromSeq: 1, toSeq: readTo, contentToSeq: end })) {
      if (e.seq !== expected) fail(e.seq, `seq ${expected} is missing`);
      expected = e.seq + 1;
      // Rows after the period's end (up to the covering checkpoint) come without their text: their link is checked.
      if (e.canonical !== null && leafHash(e.canonical).toString('hex') !== e.leafHash) fail(e.seq, 'its leaf hash does not recompute from its canonical text');
      const next = chainHash(prev, Buffer.from(e.leafHash, 'hex'));
      if (next.toString('hex') !== e.chainHash) fail(e.seq, 'its chain hash does not follow from the row before');
      prev = Buffer.from(e.chainHash, 'hex');
      if (checkpoints.has(e.seq)) chainAt.set(e.seq, e.chainHash);
      chain.rows++;
      chain.lastSeq = e.seq;
      if (e.seq <= end && (needles === null || (e.canonical !== null && needles.some((n) => e.canonical!.includes(n))))) {
        const ev = toReportEvent(e);
        if (ev) builder.add(ev);
        else if (e.canonical !== null) fail(e.seq, 'its canonical text is not an audit event');
      }
    }
  }
  if (chain.lastSeq !== readTo && readTo > 0) fail(readTo, `the chain ends at seq ${chain.lastSeq ?? 0}`);
  return { chain, chainAt };
}

/**
 * Builds the report from `source`, which must be bound to a snapshot transaction. Reads the tenant's chain
 * from seq 1 (the state of every page at the period's start follows from the events before it) up to the
 * period's end, re-checks every hash and link on the way, and the checkpoints over the period.
 * `contentToSeq` caps the events read (an evidence pack's last row in its filter).
 */
export async function writeReport(
  source: ReportSource,
  req: ReportRequest & { publicKey: KeyObject | null; generatedAt: Date; contentToSeq?: number },
): Promise<string> {
  const { clientKey } = req;
  const to = req.to ?? req.generatedAt;
  const head = await source.lastSeq(clientKey);
  let end = req.to ? ((await source.lastSeqBefore(clientKey, req.to)) ?? 0) : head;
  if (req.contentToSeq !== undefined) end = Math.min(end, req.contentToSeq);
  const firstAt = head > 0 ? await source.canonicalAt(clientKey, 1) : null;
  // A period starting after its end (a pack's `from` in the future) is empty, not an error: the pack is still written.
  const from = req.from ? new Date(Math.min(req.from.getTime(), to.getTime())) : firstAt ? new Date(Math.min(Date.parse(firstAt), to.getTime())) : to;
  const periodFirst = req.from ? await source.firstSeqFrom(clientKey, req.from) : head > 0 ? 1 : null;
  const covering = end > 0 ? await source.checkpointFor(clientKey, end, periodFirst ?? 1) : null;
  const readTo = Math.max(end, covering && covering.seq <= head ? covering.seq : 0);

  const checkpoints = new Map<number, Checkpoint>();
  if (periodFirst !== null && periodFirst <= readTo) {
    for await (const c of source.checkpointsIn(clientKey, periodFirst, readTo)) checkpoints.set(c.seq, c);
  }
  if (covering && covering.seq <= readTo) checkpoints.set(covering.seq, covering);

  const spaces = req.spaceKey !== null ? [req.spaceKey] : (req.spaces ?? null);
  const builder = new ReportBuilder({ spaces, from: from.getTime(), to: to.getTime(), now: req.generatedAt.getTime() });
  const { chain, chainAt } = await walkChain(source, { clientKey, readTo, end, spaces, checkpoints, builder });

  const integrity: IntegrityFacts = {
    chain,
    checkpoints: [...checkpoints.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((c) => ({
        seq: c.seq,
        signedAt: c.signedAt,
        keyId: c.keyId,
        signatureValid: req.publicKey ? checkpointSignatureValid(c, req.publicKey) : null,
        chainHashMatches: chainAt.has(c.seq) ? chainAt.get(c.seq) === c.chainHash : null,
        timestamped: !!c.timestampToken,
      })),
    keyId: req.publicKey ? keyId(req.publicKey) : null,
  };
  return renderReport(builder.finish(), integrity, {
    tenant: clientKey,
    scopeLabel: req.spaceKey !== null ? `space ${req.spaceKey}` : req.spaces ? `the spaces you administer (${req.spaces.join(', ')})` : 'every space',
    generatedAt: req.generatedAt,
    fromGiven: req.from !== null,
  });
}

/** The report for the Evidence tab and the CLI: one read-only snapshot of the tenant's chain. */
export class ReportService {
  constructor(
    private readonly deps: {
      source: ReportSource;
      /** The checkpoint key's public half: checks the checkpoints and gives the fingerprint. */
      publicKey: KeyObject | null;
      clock: Clock;
      /** Signs the head first, as an export does, so that the period's end is covered by a signature. */
      signHead?: (clientKey: string) => Promise<unknown>;
    },
  ) {}

  /** The spaces the tenant's trail names (candidates for "every space a person administers"). */
  async spaceKeys(clientKey: string): Promise<string[]> {
    return this.deps.source.spaceKeys(clientKey);
  }

  fileName(req: ReportRequest): string {
    const scope = req.spaceKey ? req.spaceKey.replace(/[^A-Za-z0-9_-]/g, '_') : 'site';
    return `attest-soc2-report-${scope}-${this.deps.clock.now().toISOString().slice(0, 10)}.html`;
  }

  async report(req: ReportRequest): Promise<string> {
    if (req.from && req.to && req.from >= req.to) throw new InputError('The start date (from) must be before the end date (to)');
    if (this.deps.signHead) await this.deps.signHead(req.clientKey);
    const snapshot = await this.deps.source.beginSnapshot();
    try {
      const out = await writeReport(this.deps.source.on(snapshot), { ...req, publicKey: this.deps.publicKey, generatedAt: this.deps.clock.now() });
      await snapshot.commit();
      return out;
    } finally {
      if (!snapshot.isCompleted()) await snapshot.rollback().catch(() => undefined);
    }
  }
}
