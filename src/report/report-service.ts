import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../evidence/evidence-checkpoint';
import { checkpointSignatureValid, keyId } from '../evidence/evidence-checkpoint';
import type { EvidenceEvent } from '../evidence/evidence-csv';
import type { Clock } from '../lib/clock';
import { InputError, NotAllowedError } from '../lib/errors';
import { Authorise, reportScope } from './report-access';
import { IntegrityFacts, renderReport } from './report-html';
import { ReportBuilder } from './report-model';
import { ChainWalk } from './report-walk';

/**
 * The audit read path the report uses: the evidence export's (src/audit's AuditReadModel has this shape), so the report
 * reads exactly what an export would show, from one read-only snapshot.
 */
export interface ReportSource {
  /** Runs `work` with the source bound to one read-only snapshot (AuditReadModel.snapshot). */
  snapshot<T>(work: (source: ReportSource) => Promise<T>): Promise<T>;
  lastSeq(clientKey: string): Promise<number>;
  firstSeqFrom(clientKey: string, from: Date): Promise<number | null>;
  lastSeqBefore(clientKey: string, to: Date): Promise<number | null>;
  canonicalText(clientKey: string, seq: number): Promise<string | null>;
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

/** The report's request as writeReport takes it (a snapshot's source, the key and the time of the report). */
export type WriteReportRequest = ReportRequest & { publicKey: KeyObject | null; generatedAt: Date; contentToSeq?: number };

/** The rows a pass over the snapshot hands a report (an evidence pack's events.csv): seq fromSeq..toSeq in order. */
export interface SharedPass {
  fromSeq: number;
  toSeq: number;
  /** Rows after this seq come without their text (erasures excepted): the report's `end` must be the same. */
  contentToSeq: number;
}

/** A report being built: rows go in (`observe`), the HTML comes out (`finish`). */
export interface ReportRun {
  /**
   * A row of the shared pass, before any filter hides its content; ignored unless the report reads through it.
   * `parsed`: its canonical text as parseCanonical read it (evidence-records.ts exportRecords).
   */
  observe(e: EvidenceEvent, parsed?: unknown): void;
  /** Reads what the shared pass did not cover (all of it without one), then renders. */
  finish(): Promise<string>;
}

interface ReportPlan {
  end: number;
  readTo: number;
  checkpoints: Map<number, Checkpoint>;
  builder: ReportBuilder;
  walk: ChainWalk;
}

/** The `at` of a canonical text; null when it is not an event's JSON. */
function timeOf(canonical: string | null): string | null {
  try {
    const at = canonical === null ? null : (JSON.parse(canonical) as { at?: unknown } | null)?.at;
    return typeof at === 'string' ? at : null;
  } catch {
    return null;
  }
}

/** The period, its seq range and the checkpoints over it; the builder and the walk ready for the rows. */
async function planReport(source: ReportSource, req: WriteReportRequest): Promise<ReportPlan> {
  const { clientKey } = req;
  const to = req.to ?? req.generatedAt;
  const head = await source.lastSeq(clientKey);
  let end = req.to ? ((await source.lastSeqBefore(clientKey, req.to)) ?? 0) : head;
  if (req.contentToSeq !== undefined) end = Math.min(end, req.contentToSeq);
  // Parsed here, not cast in SQL: a pack's report starts before the pack reads its rows, and a damaged first text
  // must leave the pack's own refusal to name it (and the walk to report it), not abort the snapshot.
  const firstAt = head > 0 ? timeOf(await source.canonicalText(clientKey, 1)) : null;
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
  const walk = new ChainWalk({ clientKey, end, spaces, checkpoints: new Set(checkpoints.keys()), builder });
  return { end, readTo, checkpoints, builder, walk };
}

/** Hands the walk the rows fromSeq..toSeq (capped at the plan's readTo) from the source. */
async function readInto(source: ReportSource, clientKey: string, plan: ReportPlan, fromSeq: number, toSeq: number): Promise<void> {
  const last = Math.min(toSeq, plan.readTo);
  if (last < fromSeq) return;
  for await (const e of source.events(clientKey, { fromSeq, toSeq: last, contentToSeq: plan.end })) plan.walk.push(e);
}

function render(plan: ReportPlan, req: WriteReportRequest): string {
  const chain = plan.walk.end(plan.readTo);
  const integrity: IntegrityFacts = {
    chain,
    checkpoints: [...plan.checkpoints.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((c) => ({
        seq: c.seq,
        signedAt: c.signedAt,
        keyId: c.keyId,
        signatureValid: req.publicKey ? checkpointSignatureValid(c, req.publicKey) : null,
        chainHashMatches: plan.walk.chainAt.has(c.seq) ? plan.walk.chainAt.get(c.seq) === c.chainHash : null,
        timestamped: !!c.timestampToken,
      })),
    keyId: req.publicKey ? keyId(req.publicKey) : null,
  };
  return renderReport(plan.builder.finish(), integrity, {
    tenant: req.clientKey,
    scopeLabel: req.spaceKey !== null ? `space ${req.spaceKey}` : req.spaces ? `the spaces you administer (${req.spaces.join(', ')})` : 'every space',
    generatedAt: req.generatedAt,
    fromGiven: req.from !== null,
  });
}

/**
 * Starts the report from `source`, which must be bound to a snapshot transaction. The report reads the tenant's
 * chain from seq 1 (the state of every page at the period's start follows from the events before it) up to the
 * period's end, re-checks every hash and link on the way, and the checkpoints over the period. `contentToSeq`
 * caps the events read (an evidence pack's last row in its filter). With `pass`, the rows it covers come through
 * `observe` from that pass (read once for the pack and its report) and the report reads only the rest: the rows
 * before it now, those after it in `finish`. A pass that shows other rows' content than the report would read
 * is not shared.
 */
export async function startReport(source: ReportSource, req: WriteReportRequest, pass: SharedPass | null = null): Promise<ReportRun> {
  const plan = await planReport(source, req);
  const shared = pass !== null && pass.contentToSeq === plan.end && pass.fromSeq <= plan.readTo + 1 ? pass : null;
  if (shared) await readInto(source, req.clientKey, plan, 1, shared.fromSeq - 1);
  return {
    observe(e, parsed) {
      if (shared && e.seq <= plan.readTo) plan.walk.push(e, parsed);
    },
    async finish() {
      await readInto(source, req.clientKey, plan, shared ? shared.toSeq + 1 : 1, plan.readTo);
      return render(plan, req);
    },
  };
}

/** The whole report from `source` (bound to a snapshot transaction), read in one pass of its own. */
export async function writeReport(source: ReportSource, req: WriteReportRequest): Promise<string> {
  return (await startReport(source, req)).finish();
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
      /** Who may see what (the evidence export's rule); absent for the operator's CLI, which asks no one. */
      authorise?: Authorise;
    },
  ) {}

  /**
   * What `user` may see of the report of `spaceKey` (null: without a space), or a 403 (report-access.ts): the
   * permission is this operation's; no route checks one itself.
   */
  async scopeFor(user: { clientKey: string; accountId: string }, spaceKey: string | null): Promise<Pick<ReportRequest, 'spaceKey' | 'spaces'>> {
    const { authorise } = this.deps;
    if (!authorise) throw new NotAllowedError('reports for people need a permission check');
    return reportScope(authorise, (clientKey) => this.spaceKeys(clientKey), user, spaceKey);
  }

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
    return this.deps.source.snapshot((source) => writeReport(source, { ...req, publicKey: this.deps.publicKey, generatedAt: this.deps.clock.now() }));
  }
}
