/**
 * What the SOC 2 report is made of (the model report-model.ts folds from audit events and report-html.ts
 * renders), and the pure rules both use: how a person is shown, when a due date is overdue, weeks, quantiles.
 */
import { DAY_MS } from '../approvals/approval-rules';

/** One audit event as the report reads it: the canonical text's fields, and the person as the CSV shows them. */
export interface ReportEvent {
  seq: number;
  /** Milliseconds since the epoch (the canonical `at`). */
  at: number;
  action: string;
  space: string | null;
  page: { id: string | null; title: string | null; version: number | null } | null;
  workflow: string | null;
  actor: { type: string; ref: string | null };
  /** The CSV's `actor_account_id`: the accountId while the subject link exists, else null. */
  accountId: string | null;
  data: Record<string, unknown>;
}

export interface ReportScope {
  /** Null: every space. */
  spaces: readonly string[] | null;
  /** The period: events at or after `from` and before `to` (ms since the epoch). */
  from: number;
  to: number;
  /**
   * When the report is made (default `to`): what is still open is measured up to the period's end or this moment,
   * whichever comes first, never into the future.
   */
  now?: number;
}

export type ExceptionKind = 'changed-after-approval' | 'changed-kept-by-policy' | 'approval-expired' | 'rejected' | 'review-overdue';

export const EXCEPTION_LABELS: Record<ExceptionKind, string> = {
  'changed-after-approval': 'Changed after approval, not re-approved',
  'changed-kept-by-policy': 'Changed after approval, approval kept by space policy',
  'approval-expired': 'Approval expired (recertification lapsed)',
  rejected: 'Rejected',
  'review-overdue': 'Review overdue (past its due date, not approved)',
};

export interface WorkflowRef {
  id: string;
  space: string | null;
  pageId: string | null;
  pageTitle: string | null;
  workflowTitle: string | null;
}

export interface ReportException {
  kind: ExceptionKind;
  workflow: WorkflowRef;
  openedAt: number;
  /** The event the exception starts from (for an overdue review: the event that set the due date). */
  openedSeq: number;
  closedAt: number | null;
  closedSeq: number | null;
  /** How it ended: `approved`, `archived`, `due date moved`, `configuration changed`; null while open. */
  closedBy: string | null;
  /** How long it stayed open, up to the period's end when it is still open. */
  openMs: number;
  seqs: number[];
}

export interface ApprovalRow {
  workflow: WorkflowRef;
  state: string;
  stateSeq: number;
  approvedVersion: number | null;
  approvedAt: number | null;
  approvedSeq: number | null;
  approvers: Array<{ who: string; at: number; seq: number }>;
  seqs: number[];
}

export interface SettingsChange {
  space: string | null;
  at: number;
  seq: number;
  who: string;
  fields: Array<{ field: string; before: string; after: string }>;
}

export interface SpaceAccess {
  space: string;
  /** The settings in force at the period's end (the last `settings.changed` before it), or null: none recorded. */
  settings: Record<string, string> | null;
  settingsSeq: number | null;
}

export interface ApproverRow {
  workflow: WorkflowRef;
  rule: string;
  approvers: string[];
  groups: string[];
  seq: number;
}

export type RecertOutcome = 'on time' | 'late' | 'missed';

export interface RecertRow {
  workflow: WorkflowRef;
  approvedAt: number;
  reviewDays: number;
  dueAt: number;
  outcome: RecertOutcome;
  doneAt: number | null;
  /** For `late`: from the due date to the new approval; for `missed`: to the period's end. */
  lateMs: number | null;
  seqs: number[];
}

export interface WeekBucket {
  /** Monday 00:00 UTC. */
  start: number;
  approve: number;
  reject: number;
  /** The week's decision seqs, the first MAX_LISTED_SEQS of them. */
  decisionSeqs: number[];
  /**
   * The first and last decision seq of the week: the week's decisions are exactly the scope's decision events in
   * this range, since seqs follow time.
   */
  decisionRange: [number, number] | null;
  /** Request-to-approval durations of approvals recorded this week. */
  approvalMs: number[];
  approvalSeqs: number[];
  /** Overdue reviews open at the week's end (or the period's end). */
  overdueOpen: number;
  overdueSeqs: number[];
}

export interface ReportModel {
  scope: ReportScope;
  approvals: ApprovalRow[];
  exceptions: ReportException[];
  access: { spaces: SpaceAccess[]; changes: SettingsChange[]; approvers: ApproverRow[] };
  recert: RecertRow[];
  weeks: WeekBucket[];
  /** Request to approval over the period: every approval's duration with its two seqs. */
  requestToApproval: Array<{ ms: number; fromSeq: number; toSeq: number }>;
  /** Seq range of the events inside the period (null: none). */
  periodSeqs: { first: number; last: number } | null;
}

/** A person as the evidence CSV shows them: the accountId while the link exists, else their ref (erased). */
export function displayActor(e: Pick<ReportEvent, 'actor' | 'accountId'>): string {
  if (e.actor.type === 'system') return 'Attest (system)';
  if (e.actor.type === 'confluence') return 'Confluence';
  if (e.accountId) return e.accountId;
  return e.actor.ref ? `ref ${e.actor.ref.slice(0, 12)}… (erased)` : 'unknown';
}

/** The due date's overdue moment: My approvals calls a workflow overdue once its due date is before today (UTC). */
export function overdueFrom(due: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(due)) return null;
  const t = Date.parse(`${due}T00:00:00Z`);
  return Number.isNaN(t) ? null : t + DAY_MS;
}

/** Monday 00:00 UTC of the week holding `t`. */
export function weekStart(t: number): number {
  const d = new Date(t);
  const day = (d.getUTCDay() + 6) % 7;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - day * DAY_MS;
}

/** The p-quantile (0..1) by nearest rank of sorted values; null for none. */
export function quantile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

/** The dotted fields of a settings object, as text (arrays of refs through `person`). */
export function flatten(obj: unknown, person: (ref: string) => string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (!obj || typeof obj !== 'object') return out;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v, person, key));
    else if (Array.isArray(v)) out[key] = v.map((x) => (typeof x === 'string' && /^[0-9a-f]{64}$/.test(x) ? person(x) : String(x))).join(', ') || '(none)';
    else out[key] = v === null || v === undefined ? '(none)' : String(v);
  }
  return out;
}

/** A date (UTC) as the report shows it. */
export const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** A duration for people: "3 d 4 h", "5 h 12 min", "40 s". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}
