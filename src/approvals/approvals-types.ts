import type { ContentType } from '../confluence/confluence-client';
import type { DecisionKind, Rule, WorkflowState } from './approval-rules';

export interface Workflow {
  id: string;
  clientKey: string;
  pageId: string;
  /** A page or a blog post: the macro works on both. */
  contentType: ContentType;
  macroId: string;
  /** The macro's optional `title` parameter ("Security sign-off"): which workflow this is, for people. */
  title: string | null;
  /**
   * The macro's optional `after` parameter: the `title` of the Approvals macro on the same page whose approval
   * this one waits for (ordered stages, issue 16); null when it waits for nobody.
   */
  after: string | null;
  /** Its place among the page's Approvals macros when the page was last read; null until then. */
  pagePosition: { position: number; count: number } | null;
  spaceKey: string;
  pageTitle: string;
  state: WorkflowState;
  stateBeforeArchive: WorkflowState | null;
  rule: Rule;
  quorum: number | null;
  rejections: number;
  approvers: string[];
  groups: string[];
  /** YYYY-MM-DD */
  dueDate: string | null;
  reviewDays: number | null;
  boundVersion: number;
  bodyHash: string | null;
  boundAuthorId: string | null;
  round: number;
  approvedAt: Date | null;
  expiresAt: Date | null;
  lastDecisionAt: Date | null;
  /** Since when Confluence hides the page from the app (restrictions the app is not in); null when it can read it. */
  appUnreadableSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Decision {
  id: number;
  workflowId: string;
  approverId: string;
  decision: DecisionKind;
  comment: string;
  pageVersion: number;
  round: number;
  viaGroups: string[];
  decidedAt: Date;
  /** Who made it when a delegate decided for `approverId` (issue 16); null when the approver decided. */
  delegateId: string | null;
  /** The delegation the delegate used; null when the approver decided. */
  delegationId: string | null;
}

/** The part of a workflow a macro's parameters set. */
export type WorkflowConfig = Pick<Workflow, 'title' | 'after' | 'rule' | 'quorum' | 'rejections' | 'approvers' | 'groups' | 'dueDate' | 'reviewDays'>;
