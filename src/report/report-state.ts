/**
 * What the report's builder keeps per workflow while it folds the chain, and the rows it makes of that state at
 * the period's end (report-model.ts).
 */
import type { ApprovalRow, ApproverRow, ExceptionKind, ReportException, WorkflowRef } from './report-types';


export interface Config {
  rule: string;
  approvers: string[];
  groups: string[];
  due: string | null;
  reviewDays: number | null;
  seq: number;
}

export interface WfState {
  ref: WorkflowRef;
  /** An exception or recertification row holds `ref`: a changed name makes a new one instead of changing it. */
  refHeld: boolean;
  state: string;
  stateSeq: number;
  config: Config | null;
  /** When and where the current round (the request) opened. */
  roundAt: number;
  roundSeq: number;
  /** Each person's latest approve decision in the round (bounded by the approvers, however many decisions). */
  roundApprovals: Map<string, { who: string; at: number; seq: number; standing: boolean }>;
  lastApproval: { at: number; seq: number; version: number | null; approvers: Array<{ who: string; at: number; seq: number }> } | null;
  open: Map<ExceptionKind, ReportException>;
  recert: { approvedAt: number; approvedSeq: number; reviewDays: number; dueAt: number; expiredSeq: number | null } | null;
}

/** Every approvals page with its state at the period's end and its last approval (who, when, which version). */
export function approvalRows(wfs: WfState[]): ApprovalRow[] {
  return wfs.map((wf) => {
    const a = wf.lastApproval;
    const seqs = [wf.stateSeq, ...(a ? [a.seq, ...a.approvers.map((p) => p.seq)] : [])];
    return {
      workflow: wf.ref,
      state: wf.state,
      stateSeq: wf.stateSeq,
      approvedVersion: a?.version ?? null,
      approvedAt: a?.at ?? null,
      approvedSeq: a?.seq ?? null,
      approvers: a?.approvers ?? [],
      seqs: [...new Set(seqs)].sort((x, y) => x - y),
    };
  });
}

/** Who may approve each page still in force at the period's end, from its configuration in the trail. */
export function approverRows(wfs: WfState[], person: (ref: string) => string): ApproverRow[] {
  return wfs
    .filter((wf) => wf.config && wf.state !== 'archived')
    .map((wf) => ({
      workflow: wf.ref,
      rule: wf.config!.rule,
      approvers: wf.config!.approvers.map(person),
      groups: wf.config!.groups,
      seq: wf.config!.seq,
    }));
}

/**
 * The names an event gives its workflow's page (absent ones keep theirs). Exceptions and recertifications keep the
 * ref they were made with, so a ref they hold is replaced, never changed; one nobody holds is updated in place, and
 * only where a name changed: a fresh object or string per event outlives young-generation collections and piles up
 * as old-space garbage over a long chain (issue 15: the pack's peak memory).
 */
export function renameRef(wf: WfState, names: { space: string | null; pageId?: string | null; pageTitle?: string | null; workflowTitle: string | null }): void {
  const ref = wf.ref;
  const space = names.space ?? ref.space;
  const pageId = names.pageId ?? ref.pageId;
  const pageTitle = names.pageTitle ?? ref.pageTitle;
  const workflowTitle = names.workflowTitle ?? ref.workflowTitle;
  if (space === ref.space && pageId === ref.pageId && pageTitle === ref.pageTitle && workflowTitle === ref.workflowTitle) return;
  if (wf.refHeld) {
    wf.ref = { id: ref.id, space, pageId, pageTitle, workflowTitle };
    wf.refHeld = false;
    return;
  }
  if (space !== ref.space) ref.space = space;
  if (pageId !== ref.pageId) ref.pageId = pageId;
  if (pageTitle !== ref.pageTitle) ref.pageTitle = pageTitle;
  if (workflowTitle !== ref.workflowTitle) ref.workflowTitle = workflowTitle;
}

/** The round's standing approvals, in the order they were given (each person's latest), as copies. */
export function standingApprovals(wf: WfState): Array<{ who: string; at: number; seq: number }> {
  const out: Array<{ who: string; at: number; seq: number }> = [];
  for (const a of wf.roundApprovals.values()) if (a.standing) out.push({ who: a.who, at: a.at, seq: a.seq });
  return out.sort((x, y) => x.seq - y.seq);
}
