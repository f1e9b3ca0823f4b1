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
  state: string;
  stateSeq: number;
  config: Config | null;
  /** When and where the current round (the request) opened. */
  roundAt: number;
  roundSeq: number;
  /** Each person's latest approve decision in the round (bounded by the approvers, however many decisions). */
  roundApprovals: Map<string, { who: string; at: number; seq: number }>;
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
