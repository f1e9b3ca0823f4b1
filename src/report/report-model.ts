/**
 * The SOC 2 report's figures, derived from audit events alone (the chain is the record). Pure: events in seq
 * order go in, a model comes out; every figure keeps the seq numbers of the events it rests on.
 *
 * Readers must not assume older events carry every field the catalogue lists today (audit-actions.ts): each
 * field is read defensively and a missing one leaves its cell empty.
 */
import { DAY_MS, OPEN_STATES } from '../approvals/approval-rules';
import { displayActor, ExceptionKind, flatten, overdueFrom, RecertRow, ReportEvent, ReportException, ReportModel, ReportScope, SettingsChange, WeekBucket, weekStart } from './report-types';
import { approvalRows, approverRows, renameRef, standingApprovals, WfState } from './report-state';

export * from './report-types';

/** The states that still take decisions: approval-rules' list, as the chain's text names them. */
const OPEN = new Set<string>(OPEN_STATES);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Folds events (seq order, from the chain's start so that states at the period's start are known) into the
 * report's model. Events outside the scope's spaces are skipped; events at or after `to` must not be passed.
 */
export class ReportBuilder {
  private readonly wfs = new Map<string, WfState>();
  private readonly exceptions: ReportException[] = [];
  private readonly recert: RecertRow[] = [];
  private readonly changes: SettingsChange[] = [];
  private readonly settings = new Map<string, { values: Record<string, string>; seq: number }>();
  private readonly spacesSeen = new Set<string>();
  private readonly approvalsTimed: Array<{ at: number; ms: number; fromSeq: number; toSeq: number }> = [];
  /** ref → accountId, learned only from rows in scope (the export shows those). */
  private readonly people = new Map<string, string>();
  private periodSeqs: { first: number; last: number } | null = null;

  /** Weekly buckets of the period, filled as events arrive (decisions are counted, not kept). */
  private readonly buckets: WeekBucket[];
  private readonly firstWeek: number;

  constructor(private readonly scope: ReportScope) {
    const last = weekStart(scope.to - 1);
    this.firstWeek = Math.max(weekStart(scope.from), last - (ReportBuilder.MAX_WEEKS - 1) * 7 * DAY_MS);
    this.buckets = [];
    for (let w = this.firstWeek; w <= last; w += 7 * DAY_MS) {
      this.buckets.push({ start: w, approve: 0, reject: 0, decisionSeqs: [], decisionRange: null, approvalMs: [], approvalSeqs: [], overdueOpen: 0, overdueSeqs: [] });
    }
  }

  private bucket(t: number): WeekBucket | null {
    const i = Math.floor((weekStart(t) - this.firstWeek) / (7 * DAY_MS));
    return i >= 0 && i < this.buckets.length ? this.buckets[i] : null;
  }

  private countDecision(at: number, seq: number, kind: 'approve' | 'reject'): void {
    const b = this.bucket(at);
    if (!b) return;
    b[kind]++;
    if (b.decisionRange) b.decisionRange[1] = seq;
    else b.decisionRange = [seq, seq];
    if (b.decisionSeqs.length < ReportBuilder.MAX_LISTED_SEQS) b.decisionSeqs.push(seq);
  }

  private inScope(space: string | null): boolean {
    return this.scope.spaces === null || (space !== null && this.scope.spaces.includes(space));
  }

  private person = (ref: string): string => this.people.get(ref) ?? `ref ${ref.slice(0, 12)}…`;

  /** The period's end, or the report's time when that comes first. */
  private until(): number {
    return Math.min(this.scope.to, this.scope.now ?? this.scope.to);
  }

  private inPeriod(t: number): boolean {
    return t >= this.scope.from && t < this.scope.to;
  }

  add(e: ReportEvent): void {
    if (e.at >= this.scope.to) return;
    if (!this.inScope(e.space)) return;
    // Set only when new: a fresh copy of the same name per event would be old-space garbage (see workflow()).
    if (e.actor.ref && e.accountId && this.people.get(e.actor.ref) !== e.accountId) this.people.set(e.actor.ref, e.accountId);
    if (e.space) this.spacesSeen.add(e.space);
    if (this.inPeriod(e.at)) {
      if (this.periodSeqs) this.periodSeqs.last = e.seq;
      else this.periodSeqs = { first: e.seq, last: e.seq };
    }
    if (e.action === 'settings.changed') return this.settingsChanged(e);
    if (!e.workflow) return;
    const wf = this.workflow(e);
    // Time passed since this workflow's last event: did its due date pass while it was open?
    this.checkOverdue(wf, e.at);
    this.apply(wf, e);
  }

  private workflow(e: ReportEvent): WfState {
    let wf = this.wfs.get(e.workflow!);
    if (!wf) {
      wf = {
        ref: { id: e.workflow!, space: e.space, pageId: null, pageTitle: null, workflowTitle: null },
        state: 'pending',
        stateSeq: e.seq,
        config: null,
        roundAt: e.at,
        roundSeq: e.seq,
        refHeld: false,
        roundApprovals: new Map(),
        lastApproval: null,
        open: new Map(),
        recert: null,
      };
      this.wfs.set(e.workflow!, wf);
    }
    // The latest event names the page as it is now.
    renameRef(wf, { space: e.space, pageId: e.page?.id, pageTitle: e.page?.title, workflowTitle: str(e.data.workflowTitle) });
    return wf;
  }

  private setConfig(wf: WfState, c: unknown, seq: number): void {
    if (!c || typeof c !== 'object') return;
    const o = c as Record<string, unknown>;
    wf.config = {
      rule: str(o.rule) ?? '',
      approvers: Array.isArray(o.approvers) ? o.approvers.filter((x): x is string => typeof x === 'string') : [],
      groups: Array.isArray(o.groups) ? o.groups.filter((x): x is string => typeof x === 'string') : [],
      due: str(o.due),
      reviewDays: num(o.reviewDays),
      seq,
    };
  }

  private newRound(wf: WfState, e: ReportEvent): void {
    wf.roundAt = e.at;
    wf.roundSeq = e.seq;
    wf.roundApprovals = new Map();
  }

  private openException(wf: WfState, kind: ExceptionKind, at: number, seq: number): void {
    if (wf.open.has(kind)) return;
    wf.refHeld = true;
    const x: ReportException = { kind, workflow: wf.ref, openedAt: at, openedSeq: seq, closedAt: null, closedSeq: null, closedBy: null, openMs: 0, seqs: [seq] };
    wf.open.set(kind, x);
    this.exceptions.push(x);
  }

  private closeExceptions(wf: WfState, kinds: readonly ExceptionKind[], e: ReportEvent, by: string): void {
    for (const kind of kinds) {
      const x = wf.open.get(kind);
      if (!x) continue;
      x.closedAt = e.at;
      x.closedSeq = e.seq;
      x.closedBy = by;
      x.seqs.push(e.seq);
      wf.open.delete(kind);
    }
  }

  private checkOverdue(wf: WfState, now: number): void {
    const due = wf.config?.due ? overdueFrom(wf.config.due) : null;
    if (due !== null && OPEN.has(wf.state) && due <= now && !wf.open.has('review-overdue')) {
      this.openException(wf, 'review-overdue', due, wf.config!.seq);
    }
  }

  private apply(wf: WfState, e: ReportEvent): void {
    const d = e.data;
    const setState = (s: string) => {
      wf.state = s;
      wf.stateSeq = e.seq;
    };
    switch (e.action) {
      case 'workflow.created':
        this.setConfig(wf, d.config, e.seq);
        setState('pending');
        this.newRound(wf, e);
        break;
      case 'workflow.configured':
        this.configured(wf, e);
        break;
      case 'decision.approved':
      case 'decision.rejected':
        this.decided(wf, e);
        break;
      case 'workflow.approved':
        this.approved(wf, e);
        break;
      case 'workflow.rejected':
        setState('rejected');
        this.closeExceptions(wf, ['review-overdue'], e, 'rejected');
        this.openException(wf, 'rejected', e.at, e.seq);
        break;
      case 'workflow.outdated':
        if (str(d.previousState) === 'approved') this.openException(wf, 'changed-after-approval', e.at, e.seq);
        setState('outdated');
        this.newRound(wf, e);
        break;
      case 'workflow.rebound':
        if (str(d.previousState) === 'approved' && d.contentChanged === true) this.openException(wf, 'changed-kept-by-policy', e.at, e.seq);
        break;
      case 'workflow.expired':
        setState('expired');
        this.newRound(wf, e);
        this.openException(wf, 'approval-expired', e.at, e.seq);
        if (wf.recert) wf.recert.expiredSeq = e.seq;
        break;
      case 'workflow.archived':
        setState('archived');
        this.closeExceptions(wf, [...wf.open.keys()], e, 'archived');
        wf.recert = null;
        break;
      case 'workflow.restored':
        setState(str(d.state) ?? wf.state);
        break;
      default:
        break;
    }
  }

  /** A new configuration: the state it names, a new round when it reopens an approval, overdue re-judged. */
  private configured(wf: WfState, e: ReportEvent): void {
    const d = e.data;
    const before = wf.state;
    this.setConfig(wf, d.after, e.seq);
    const state = str(d.state) ?? wf.state;
    wf.state = state;
    wf.stateSeq = e.seq;
    if (before === 'approved' && OPEN.has(state)) this.newRound(wf, e);
    // A due date moved past today ends the overdue spell it caused.
    const due = wf.config?.due ? overdueFrom(wf.config.due) : null;
    if (wf.open.has('review-overdue') && (due === null || due > e.at)) this.closeExceptions(wf, ['review-overdue'], e, 'due date moved');
    if (wf.recert && !wf.config?.reviewDays) wf.recert = null;
    if (!OPEN.has(state) && state !== 'approved') this.closeExceptions(wf, ['review-overdue'], e, 'configuration changed');
  }

  /** One person's decision: counted for the week, and their latest approval kept for the round. */
  private decided(wf: WfState, e: ReportEvent): void {
    const kind = e.action === 'decision.approved' ? 'approve' : 'reject';
    if (this.inPeriod(e.at)) this.countDecision(e.at, e.seq, kind);
    const who = displayActor(e);
    // Only a person's latest decision counts (they may change their mind while the workflow is open): a reject
    // withdraws their approval. Entries are updated in place, never deleted and re-added (that churns the Map's
    // table, old-space garbage over a long chain); approved() keeps the standing ones in the order they were given.
    const entry = wf.roundApprovals.get(who);
    if (entry) {
      entry.standing = kind === 'approve';
      entry.at = e.at;
      entry.seq = e.seq;
    } else if (kind === 'approve') wf.roundApprovals.set(who, { who, at: e.at, seq: e.seq, standing: true });
  }

  /** The workflow approved: exceptions closed, a recertification judged on time or late, the next one due. */
  private approved(wf: WfState, e: ReportEvent): void {
    wf.state = 'approved';
    wf.stateSeq = e.seq;
    if (this.inPeriod(e.at)) this.approvalsTimed.push({ at: e.at, ms: e.at - wf.roundAt, fromSeq: wf.roundSeq, toSeq: e.seq });
    wf.lastApproval = { at: e.at, seq: e.seq, version: e.page?.version ?? null, approvers: standingApprovals(wf) };
    this.closeExceptions(wf, ['changed-after-approval', 'changed-kept-by-policy', 'approval-expired', 'rejected', 'review-overdue'], e, 'approved');
    const r = wf.recert;
    if (r) {
      wf.refHeld = true;
      if (r.expiredSeq === null && e.at <= r.dueAt) {
        this.recert.push({ workflow: wf.ref, approvedAt: r.approvedAt, reviewDays: r.reviewDays, dueAt: r.dueAt, outcome: 'on time', doneAt: e.at, lateMs: null, seqs: [r.approvedSeq, e.seq] });
      } else {
        const seqs = r.expiredSeq === null ? [r.approvedSeq, e.seq] : [r.approvedSeq, r.expiredSeq, e.seq];
        this.recert.push({ workflow: wf.ref, approvedAt: r.approvedAt, reviewDays: r.reviewDays, dueAt: r.dueAt, outcome: 'late', doneAt: e.at, lateMs: e.at - r.dueAt, seqs });
      }
    }
    const days = wf.config?.reviewDays ?? null;
    wf.recert = days ? { approvedAt: e.at, approvedSeq: e.seq, reviewDays: days, dueAt: e.at + days * DAY_MS, expiredSeq: null } : null;
  }

  private settingsChanged(e: ReportEvent): void {
    const before = flatten(e.data.before, this.person);
    const after = flatten(e.data.after, this.person);
    const changed = Array.isArray(e.data.changed) ? e.data.changed.filter((x): x is string => typeof x === 'string') : Object.keys(after);
    if (e.space) this.settings.set(e.space, { values: after, seq: e.seq });
    if (!this.inPeriod(e.at)) return;
    const fields = changed.map((f) => ({ field: f, before: before[f] ?? '(none)', after: after[f] ?? '(none)' }));
    this.changes.push({ space: e.space, at: e.at, seq: e.seq, who: displayActor(e), fields });
  }

  /** The model at the period's end. */
  finish(): ReportModel {
    const { from, to } = this.scope;
    const until = this.until();
    for (const wf of this.wfs.values()) this.checkOverdue(wf, until);
    for (const x of this.exceptions) x.openMs = Math.max(0, (x.closedAt ?? until) - x.openedAt);
    const exceptions = this.exceptions
      .filter((x) => x.openedAt < to && (x.closedAt === null || x.closedAt >= from))
      .sort((a, b) => (a.closedAt === null ? 0 : 1) - (b.closedAt === null ? 0 : 1) || b.openMs - a.openMs);

    const wfs = [...this.wfs.values()].sort((a, b) => (a.ref.space ?? '').localeCompare(b.ref.space ?? '') || (a.ref.pageTitle ?? '').localeCompare(b.ref.pageTitle ?? ''));
    const approvals = approvalRows(wfs);

    // Recertifications still waiting at the period's end: missed when their due date passed.
    const recert = [...this.recert];
    for (const wf of this.wfs.values()) {
      const r = wf.recert;
      if (!r || r.dueAt >= until) continue;
      const seqs = r.expiredSeq === null ? [r.approvedSeq] : [r.approvedSeq, r.expiredSeq];
      recert.push({ workflow: wf.ref, approvedAt: r.approvedAt, reviewDays: r.reviewDays, dueAt: r.dueAt, outcome: 'missed', doneAt: null, lateMs: until - r.dueAt, seqs });
    }
    const recertInPeriod = recert.filter((r) => r.dueAt >= from && r.dueAt < to).sort((a, b) => a.dueAt - b.dueAt);

    const spaces = this.scope.spaces ?? [...this.spacesSeen].sort();
    const access = {
      spaces: spaces.map((s) => {
        const cur = this.settings.get(s);
        return { space: s, settings: cur?.values ?? null, settingsSeq: cur?.seq ?? null };
      }),
      changes: this.changes,
      approvers: approverRows(wfs, this.person),
    };

    return {
      scope: this.scope,
      approvals,
      exceptions,
      access,
      recert: recertInPeriod,
      weeks: this.weeks(exceptions),
      requestToApproval: this.approvalsTimed.map(({ ms, fromSeq, toSeq }) => ({ ms, fromSeq, toSeq })),
      periodSeqs: this.periodSeqs,
    };
  }

  /** At most this many weekly buckets (ten years); a longer period shows its last ten years in the charts. */
  static readonly MAX_WEEKS = 520;
  /** A week lists its decisions' seqs up to this many; beyond, its row names their range (exact: seqs follow time). */
  static readonly MAX_LISTED_SEQS = 50;

  private weeks(exceptions: ReportException[]): WeekBucket[] {
    const until = this.until();
    for (const a of this.approvalsTimed) {
      const b = this.bucket(a.at);
      if (!b) continue;
      b.approvalMs.push(a.ms);
      b.approvalSeqs.push(a.toSeq);
    }
    const overdue = exceptions.filter((x) => x.kind === 'review-overdue');
    for (const b of this.buckets) {
      const end = Math.min(b.start + 7 * DAY_MS, until);
      for (const x of overdue) {
        if (x.openedAt < end && (x.closedAt === null || x.closedAt >= end)) {
          b.overdueOpen++;
          b.overdueSeqs.push(x.openedSeq);
        }
      }
    }
    return this.buckets;
  }
}
