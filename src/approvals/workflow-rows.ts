/**
 * The approvals read model: the row shapes of the `workflows` and `decisions` tables and their mapping to
 * the domain types. `src/approvals/` owns both tables; the space dashboard and My approvals read them through
 * these types (their stores select whole rows, typed, and map them here) instead of reaching into
 * approvals-store.ts.
 */
import type { Decision, Workflow } from './approvals-types';

export interface WorkflowRow {
  client_key: string;
  id: string;
  page_id: string;
  content_type: Workflow['contentType'];
  macro_id: string;
  title: string | null;
  after_title: string | null;
  page_position: number | null;
  page_macro_count: number | null;
  space_key: string;
  page_title: string;
  state: Workflow['state'];
  state_before_archive: Workflow['state'] | null;
  rule: Workflow['rule'];
  quorum: number | null;
  rejections: number;
  approvers: string[];
  groups: string[];
  due_date: string | null;
  review_days: number | null;
  bound_version: number;
  body_hash: string | null;
  bound_author_id: string | null;
  round: number;
  approved_at: Date | null;
  expires_at: Date | null;
  last_decision_at: Date | null;
  app_unreadable_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface DecisionRow {
  client_key: string;
  id: number;
  workflow_id: string;
  approver_id: string;
  decision: Decision['decision'];
  comment: string;
  page_version: number;
  round: number;
  via_groups: string[];
  decided_at: Date;
  delegate_id: string | null;
  delegation_id: string | null;
}

export function toWorkflow(r: WorkflowRow): Workflow {
  return {
    id: r.id,
    clientKey: r.client_key,
    pageId: r.page_id,
    contentType: r.content_type,
    macroId: r.macro_id,
    title: r.title,
    after: r.after_title,
    pagePosition: r.page_position !== null && r.page_macro_count !== null ? { position: r.page_position, count: r.page_macro_count } : null,
    spaceKey: r.space_key,
    pageTitle: r.page_title,
    state: r.state,
    stateBeforeArchive: r.state_before_archive,
    rule: r.rule,
    quorum: r.quorum,
    rejections: r.rejections,
    approvers: r.approvers,
    groups: r.groups,
    dueDate: r.due_date,
    reviewDays: r.review_days,
    boundVersion: r.bound_version,
    bodyHash: r.body_hash,
    boundAuthorId: r.bound_author_id,
    round: r.round,
    approvedAt: r.approved_at,
    expiresAt: r.expires_at,
    lastDecisionAt: r.last_decision_at,
    appUnreadableSince: r.app_unreadable_since,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Row → domain. */
export function toDecision(r: DecisionRow): Decision {
  return {
    id: Number(r.id),
    workflowId: r.workflow_id,
    approverId: r.approver_id,
    decision: r.decision,
    comment: r.comment,
    pageVersion: r.page_version,
    round: r.round,
    viaGroups: r.via_groups,
    decidedAt: r.decided_at,
    delegateId: r.delegate_id ?? null,
    delegationId: r.delegation_id ?? null,
  };
}

const WORKFLOW_TIMES = ['approved_at', 'expires_at', 'last_decision_at', 'app_unreadable_since', 'created_at', 'updated_at'] as const;

/** JSON carries timestamps as text: back to the Dates the row mappers expect (dates stay 'YYYY-MM-DD', as pg gives them). */
export function revive<T extends Record<string, unknown>>(row: T, fields: readonly string[]): T {
  const out: Record<string, unknown> = { ...row };
  for (const f of fields) if (typeof out[f] === 'string') out[f] = new Date(out[f] as string);
  return out as T;
}

/** A workflows row as `to_jsonb` gives it. */
export function workflowOfJson(w: Record<string, unknown>): Workflow {
  return toWorkflow(revive(w, WORKFLOW_TIMES) as unknown as WorkflowRow);
}

/** A decisions row as `json_agg` gives it. */
export function decisionOfJson(d: Record<string, unknown>): Decision {
  return toDecision(revive(d, ['decided_at']) as unknown as DecisionRow);
}
