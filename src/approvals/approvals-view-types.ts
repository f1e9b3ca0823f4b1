import type { ContentType } from '../confluence/confluence-client';
import type { DecisionKind, Outcome } from './approval-rules';
import type { Decision, Workflow, WorkflowConfig } from './approvals-types';
import type { Delegation } from './delegation';
import type { SpacePolicy } from './space-policy';
import type { stageSummary } from './stages';

/** The signed macro parameters (every one of them is covered by the iframe JWT's qsh). */
export interface MacroParams {
  pageId: string;
  /** Confluence's `page.type`: the macro sits on a page or a blog post. */
  contentType: ContentType;
  pageVersion: number;
  spaceKey: string;
  macroId: string;
  /** The macro's optional title; null when it has none. */
  title: string | null;
  /** The title of the stage this macro waits for (ordered stages); null when it waits for nobody. */
  after: string | null;
  approvers: string[];
  groups: string[];
  rule: WorkflowConfig['rule'] | null;
  quorum: number | null;
  rejections: number | null;
  due: string | null;
  review: number | null;
}

export interface DecisionInput {
  decision: DecisionKind;
  comment: string;
  pageVersion: number;
  /** A delegate deciding for someone out of office: that person's accountId (issue 16). */
  onBehalfOf?: string | null;
}

/** Who a decision counts for: the caller, or the delegator whose active delegation names the caller. */
export interface Acting {
  accountId: string;
  delegation: Delegation | null;
}

/** Someone the viewer stands in for (an active delegation naming them), and whether they may decide for them here. */
export interface BehalfOption {
  accountId: string;
  delegationId: string;
  endsOn: string;
  canDecide: boolean;
  reason: string | null;
  refusal: RefusalKind | null;
  myDecision: Decision | null;
}

/** What the macro and the API show: the workflow, its decisions and what the viewer may do. */
export interface WorkflowView {
  workflow: Workflow;
  decisions: Decision[];
  /** Decisions that count now (current round). */
  current: Decision[];
  outcome: Outcome;
  ruleText: string;
  overdue: boolean;
  /** The space's rules the screens explain: who may approve their own version, what an edit does. */
  policy: Pick<SpacePolicy, 'allowSelfApproval' | 'resetOnEdit'>;
  /** The page's ordered stages and where the page stands, when this workflow is one of them. */
  stages: ReturnType<typeof stageSummary>;
  viewer: {
    accountId: string;
    canDecide: boolean;
    reason: string | null;
    /** Which rule keeps the viewer from deciding, so a screen can say what would change it. */
    refusal: RefusalKind | null;
    /** Listed groups the viewer decides for (open workflows only). */
    viaGroups: string[];
    myDecision: Decision | null;
    viewedVersion: number | null;
    /** The people the viewer stands in for now (delegations), each with whether the viewer may decide for them here. */
    onBehalfOf: BehalfOption[];
  };
}

/**
 * Why someone may not decide: not listed, wrote the bound version, the workflow is closed, its stage has not
 * opened yet, another version is open; for a delegate also: the delegate wrote the bound version, or the space
 * does not allow delegation.
 */
export type RefusalKind = 'not-approver' | 'author' | 'closed' | 'stage-closed' | 'other-version' | 'delegate-is-author' | 'delegation-forbidden';
