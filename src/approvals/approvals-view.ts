import type { Principal } from '../confluence/connect-auth';
import { ConflictError, NotAllowedError } from '../lib/errors';
import { decideRefusal, describeRule, evaluate, OPEN_STATES } from './approval-rules';
import type { ApprovalsDeps } from './approvals-ports';
import type { Decision, Workflow } from './approvals-types';
import type { Acting, BehalfOption, RefusalKind, WorkflowView } from './approvals-view-types';
import { dayOf, Delegation, isActive, onBehalfRefusal } from './delegation';
import type { SpacePolicy } from './space-policy';
import { stageGate, stageSummary } from './stages';

/** Who may decide on a workflow (the caller, or a delegate for someone), and the view of it a person gets. */
export class ApprovalsViews {
  constructor(private readonly deps: Pick<ApprovalsDeps, 'stores' | 'confluence' | 'clock' | 'delegations' | 'renderReads'>) {}

  /** The listed groups this person belongs to (only those matter for deciding). */
  async listedGroupsOf(clientKey: string, accountId: string, groups: string[]): Promise<string[]> {
    if (!groups.length || !accountId) return [];
    const mine = await this.deps.confluence.groupsOf(clientKey, accountId);
    return groups.filter((g) => mine.includes(g));
  }

  /**
   * The person a decision counts for: the caller, or — with `onBehalfOf` — the person whose delegation active
   * today names the caller as delegate, in a space that allows delegation. Only a delegation made by that very
   * person counts: what was delegated to someone is not theirs to pass on.
   */
  async actingFor(p: Principal, onBehalfOf: string | null, policy: SpacePolicy): Promise<Acting> {
    if (onBehalfOf === null || onBehalfOf === p.accountId) return { accountId: p.accountId, delegation: null };
    if (!policy.allowDelegation) throw new NotAllowedError('This space does not allow delegation: only the approvers themselves decide here.');
    const today = dayOf(this.deps.clock.now());
    const delegation = (await this.deps.delegations?.activeTo(p.clientKey, p.accountId, today))?.find((d) => d.delegatorId === onBehalfOf);
    if (!delegation) {
      throw new NotAllowedError(
        'You have no active delegation from this person: a delegate decides for them only from the first through the last day they named, and a delegation cannot be passed on.',
      );
    }
    return { accountId: onBehalfOf, delegation };
  }

  /** The caller's active delegations for a view: from the tenant's cached list when there is one (no SQL per decision). */
  private async activeTo(p: Principal): Promise<readonly Delegation[] | undefined> {
    const today = dayOf(this.deps.clock.now());
    const open = this.deps.delegations && this.deps.renderReads?.openDelegations ? await this.deps.renderReads.openDelegations(p.clientKey) : undefined;
    if (open) return open.filter((d) => d.delegateId === p.accountId && isActive(d, today));
    return this.deps.delegations?.activeTo(p.clientKey, p.accountId, today);
  }

  /** The people the viewer stands in for today, and whether the viewer may decide for each on this workflow. */
  async behalfOptions(
    p: Principal,
    wf: Workflow,
    decisions: readonly Decision[],
    policy: SpacePolicy,
    page: readonly Workflow[],
    known?: readonly Delegation[],
  ): Promise<BehalfOption[]> {
    if (!p.accountId || !OPEN_STATES.includes(wf.state) || !policy.allowDelegation) return [];
    const delegations = known ?? (await this.activeTo(p)) ?? [];
    const out: BehalfOption[] = [];
    for (const d of delegations) {
      const viaGroups = await this.listedGroupsOf(p.clientKey, d.delegatorId, wf.groups);
      const refused = refusal(d.delegatorId, wf, viaGroups, policy, page, p.accountId);
      // Someone neither listed nor in a listed group has nothing here to delegate: not an option at all.
      if (refused?.kind === 'not-approver') continue;
      const theirs = decisions.filter((x) => x.round === wf.round && x.approverId === d.delegatorId);
      out.push({
        accountId: d.delegatorId,
        delegationId: d.id,
        endsOn: d.endsOn,
        canDecide: refused === null,
        reason: refused?.error.message ?? null,
        refusal: refused?.kind ?? null,
        myDecision: theirs.length ? theirs[theirs.length - 1] : null,
      });
    }
    return out;
  }

  async view(
    p: Principal,
    wf: Workflow,
    policy: SpacePolicy,
    viewedVersion: number | null = null,
    known?: readonly Decision[],
    knownPage?: readonly Workflow[],
    delegations?: readonly Delegation[],
  ): Promise<WorkflowView> {
    const decisions = known ? [...known] : await this.deps.stores.workflows.decisionsOf(p.clientKey, wf.id);
    const page = knownPage ?? (await this.deps.stores.workflows.workflowsOfPage(p.clientKey, wf.pageId));
    const viaGroups = OPEN_STATES.includes(wf.state) ? await this.listedGroupsOf(p.clientKey, p.accountId, wf.groups) : [];
    return this.viewOf(p, wf, decisions, viaGroups, policy, viewedVersion, page, await this.behalfOptions(p, wf, decisions, policy, page, delegations));
  }

  /** The view from what is already known: no database, no Confluence. */
  viewOf(
    p: Principal,
    wf: Workflow,
    decisions: Decision[],
    viaGroups: string[],
    policy: SpacePolicy,
    viewedVersion: number | null,
    knownPage: readonly Workflow[],
    onBehalfOf: BehalfOption[] = [],
  ): WorkflowView {
    // The page as read, with this workflow as it is now.
    const page = knownPage.some((w) => w.id === wf.id) ? knownPage.map((w) => (w.id === wf.id ? wf : w)) : [...knownPage, wf];
    const current = decisions.filter((d) => d.round === wf.round);
    const open = OPEN_STATES.includes(wf.state);
    const other = otherVersionRefusal(wf, viewedVersion);
    const refused = refusal(p.accountId, wf, open ? viaGroups : [], policy, page) ?? (other ? { kind: 'other-version' as const, error: other } : null);
    const mine = current.filter((d) => d.approverId === p.accountId);
    const today = dayOf(this.deps.clock.now());
    return {
      workflow: wf,
      decisions,
      current,
      outcome: evaluate(wf, current),
      ruleText: describeRule(wf),
      overdue: !!wf.dueDate && wf.dueDate < today && open,
      policy: { allowSelfApproval: policy.allowSelfApproval, resetOnEdit: policy.resetOnEdit },
      stages: stageSummary(wf, page),
      viewer: {
        accountId: p.accountId,
        canDecide: refused === null,
        reason: refused?.error.message ?? null,
        refusal: refused?.kind ?? null,
        viaGroups: open ? viaGroups : [],
        myDecision: mine.length ? mine[mine.length - 1] : null,
        viewedVersion,
        // Reading another version is read-only for a delegate too.
        onBehalfOf: other ? onBehalfOf.map((o) => ({ ...o, canDecide: false, reason: other.message, refusal: 'other-version' as const })) : onBehalfOf,
      },
    };
  }
}

/** A person only ever decides on the version they are reading: any other version is read-only. */
export function otherVersionRefusal(wf: Workflow, viewedVersion: number | null): ConflictError | null {
  if (viewedVersion === null || viewedVersion === wf.boundVersion) return null;
  return new ConflictError(`You are viewing version ${viewedVersion}; approvals are for version ${wf.boundVersion} — open the current version.`);
}

/**
 * Why this person (or `delegateId` for them) may not decide now, or null when they may; `page`: the workflows
 * on its page (ordered stages).
 */
export function refusal(
  accountId: string,
  wf: Workflow,
  viaGroups: string[],
  policy: SpacePolicy,
  page: readonly Workflow[],
  delegateId: string | null = null,
): { kind: RefusalKind; error: Error } | null {
  const kind = delegateId === null ? decideRefusal(wf, accountId, viaGroups, policy.allowSelfApproval) : onBehalfRefusal(wf, accountId, delegateId, viaGroups, policy);
  if (kind === null) {
    // A stage takes decisions only once every stage before it is approved.
    const gate = stageGate(wf, page);
    return gate ? { kind: 'stage-closed', error: new ConflictError(gate) } : null;
  }
  return { kind, error: refusalError(kind, wf, delegateId !== null) };
}

function refusalError(kind: Exclude<RefusalKind, 'stage-closed' | 'other-version'>, wf: Workflow, delegated: boolean): Error {
  switch (kind) {
    case 'not-approver':
      return new NotAllowedError(
        delegated
          ? 'The person you stand in for is not an approver of this workflow: a delegate decides only where they could.'
          : 'You are not an approver of this workflow: only the listed people and members of the listed groups can decide.',
      );
    case 'author':
      return new NotAllowedError(
        delegated
          ? `The person you stand in for wrote version ${wf.boundVersion}: an author cannot approve through a delegate (separation of duties).`
          : `Someone other than the author of version ${wf.boundVersion} must approve it: you wrote that version (separation of duties; this space does not allow self-approval).`,
      );
    case 'delegate-is-author':
      return new NotAllowedError(
        `Someone other than the author of version ${wf.boundVersion} must approve it: you wrote that version, so you cannot approve it on anyone's behalf either (separation of duties).`,
      );
    case 'delegation-forbidden':
      return new NotAllowedError('This space does not allow delegation: only the approvers themselves decide here.');
    case 'closed':
      return new ConflictError(`This workflow is ${wf.state}: it takes no more decisions.`);
  }
}
