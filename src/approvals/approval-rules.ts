/** The rules that decide a workflow's state. Pure: no I/O, no clock. */

export type Rule = 'all' | 'any' | 'quorum';
export type WorkflowState = 'pending' | 'approved' | 'rejected' | 'outdated' | 'expired' | 'archived';
export type DecisionKind = 'approve' | 'reject';

/** States in which approvers may still decide. */
export const OPEN_STATES: readonly WorkflowState[] = ['pending', 'outdated', 'expired'];

export function isOpen(state: WorkflowState): boolean {
  return OPEN_STATES.includes(state);
}

export const DAY_MS = 86_400_000;

/** Why a person may not decide on a workflow now; null when they may. */
export type DecideRefusal = 'not-approver' | 'author' | 'closed';

/**
 * May this person decide? The one home of the rule the decision API enforces and My approvals lists by:
 * they are listed, or belong to a listed group (`viaGroups`); they are not the author of the bound version
 * unless the space allows self-approval (separation of duties); the workflow is open.
 */
export function decideRefusal(
  wf: { approvers: readonly string[]; boundAuthorId: string | null; state: WorkflowState },
  accountId: string,
  viaGroups: readonly string[],
  allowSelfApproval: boolean,
): DecideRefusal | null {
  if (!wf.approvers.includes(accountId) && viaGroups.length === 0) return 'not-approver';
  if (!allowSelfApproval && wf.boundAuthorId !== null && wf.boundAuthorId === accountId) return 'author';
  if (!isOpen(wf.state)) return 'closed';
  return null;
}

/** How each state is named to people (the macro's lozenge, the dashboard, My approvals) and its lozenge tone. */
export const STATE_LABELS: Record<WorkflowState, { label: string; tone: string }> = {
  pending: { label: 'Pending', tone: 'inprogress' },
  approved: { label: 'Approved', tone: 'success' },
  rejected: { label: 'Rejected', tone: 'removed' },
  outdated: { label: 'Page changed', tone: 'moved' },
  expired: { label: 'Expired', tone: 'moved' },
  archived: { label: 'Archived', tone: 'default' },
};

export interface RuleConfig {
  rule: Rule;
  quorum: number | null;
  /** Rejections that reject the workflow (≥ 1). */
  rejections: number;
  approvers: string[];
  groups: string[];
}

export interface CountedDecision {
  approverId: string;
  decision: DecisionKind;
  /** Listed groups the approver belonged to when deciding. */
  viaGroups: string[];
}

export interface Outcome {
  /** 'open' while more decisions are needed. */
  result: 'open' | 'approved' | 'rejected';
  approvals: number;
  rejections: number;
  /** Listed people who have not decided, and listed groups with no approval from a member yet. */
  waitingOnUsers: string[];
  waitingOnGroups: string[];
}

/** Only each approver's latest decision counts (they may change their mind while the workflow is open). */
export function latestPerApprover<T extends CountedDecision>(decisionsInOrder: T[]): T[] {
  const latest = new Map<string, T>();
  for (const d of decisionsInOrder) {
    latest.delete(d.approverId);
    latest.set(d.approverId, d);
  }
  return [...latest.values()];
}

export function evaluate(config: RuleConfig, decisionsInOrder: CountedDecision[]): Outcome {
  const current = latestPerApprover(decisionsInOrder);
  const approved = current.filter((d) => d.decision === 'approve');
  const rejected = current.filter((d) => d.decision === 'reject');
  const decided = new Set(current.map((d) => d.approverId));
  const waitingOnUsers = config.approvers.filter((a) => !decided.has(a));
  const waitingOnGroups = config.groups.filter((g) => !approved.some((d) => d.viaGroups.includes(g)));
  const base = { approvals: approved.length, rejections: rejected.length, waitingOnUsers, waitingOnGroups };

  if (rejected.length >= Math.max(1, config.rejections)) return { ...base, result: 'rejected' };
  const nobodyListed = config.approvers.length === 0 && config.groups.length === 0;
  let done: boolean;
  switch (config.rule) {
    case 'all':
      done =
        !nobodyListed &&
        config.approvers.every((a) => approved.some((d) => d.approverId === a)) &&
        waitingOnGroups.length === 0;
      break;
    case 'any':
      done = approved.length >= 1;
      break;
    case 'quorum':
      done = approved.length >= Math.max(1, config.quorum ?? 1);
      break;
  }
  return { ...base, result: done ? 'approved' : 'open' };
}

/** The rule in words, for people. */
export function describeRule(config: RuleConfig): string {
  const rej =
    config.rejections <= 1 ? 'one rejection rejects it' : `${config.rejections} rejections reject it`;
  switch (config.rule) {
    case 'all': {
      const parts: string[] = [];
      if (config.approvers.length) parts.push(config.approvers.length === 1 ? 'the listed approver' : `all ${config.approvers.length} listed approvers`);
      if (config.groups.length) parts.push(config.groups.length === 1 ? 'one member of the listed group' : `one member of each of the ${config.groups.length} listed groups`);
      return parts.length ? `Needs approval from ${parts.join(' and ')}; ${rej}.` : 'No approvers are listed yet: edit the macro to add people or groups.';
    }
    case 'any':
      return `Needs one approval from anyone listed; ${rej}.`;
    case 'quorum':
      return `Needs ${config.quorum ?? 1} approval${(config.quorum ?? 1) === 1 ? '' : 's'} from different people listed; ${rej}.`;
  }
}
