import type { AuditEventInput } from '../audit/audit-log';
import type { AuditTx } from '../audit/audit-tx';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Transactional } from '../lib/transactional';
import type { Decision, Workflow } from './approvals-types';
import type { Delegation, DelegationLookup } from './delegation';
import type { SpacePolicyProvider } from './space-policy';
import type { BatchOptions } from './decision-batches';
import type { RenderSnapshot } from '../view-cache/view-cache';
import type { RenderedViews } from '../view-cache/rendered-views';

/** A decision request recorded under its Idempotency-Key, with the decision it recorded. */
export interface DecisionRequest {
  idempotencyKey: string;
  requestHash: string;
  decision: Decision;
}

/** How `BatchRead.requests` names a recorded request: its workflow and its Idempotency-Key. */
export function requestKey(workflowId: string, idempotencyKey: string): string {
  return `${workflowId}\n${idempotencyKey}`;
}

export type WorkflowPatch = Partial<Omit<Workflow, 'id' | 'clientKey' | 'pageId' | 'macroId' | 'createdAt' | 'updatedAt'>>;

export type NewWorkflow = Omit<
  Workflow,
  'id' | 'clientKey' | 'createdAt' | 'updatedAt' | 'stateBeforeArchive' | 'round' | 'approvedAt' | 'expiresAt' | 'lastDecisionAt' | 'appUnreadableSince'
>;

/** What a batch of decisions changes on one workflow: the last decision's time and, when it settled, the outcome. */
export interface DecisionChange {
  id: string;
  lastDecisionAt: Date;
  settled: { state: Workflow['state']; approvedAt: Date | null; expiresAt: Date | null } | null;
}

/** Reads of workflows and decisions outside any transaction (each its own statement). */
export interface WorkflowReads {
  findWorkflow(clientKey: string, pageId: string, macroId: string): Promise<Workflow | null>;
  /** The workflows on a page (no lock: to decide whether a page event concerns us at all). */
  workflowsOfPage(clientKey: string, pageId: string): Promise<Workflow[]>;
  decisionsOf(clientKey: string, workflowId: string): Promise<Decision[]>;
  /** The workflow (null: none) with the decision recorded on it under `idempotencyKey` (null: none), in one read. */
  findWorkflowAndRequest(clientKey: string, pageId: string, macroId: string, idempotencyKey: string): Promise<{ workflow: Workflow; earlier: DecisionRequest | null } | null>;
  /** Marks the page's workflows unreadable by the app since `since` (kept if marked), or readable (null); rows changed. */
  setAppUnreadable(clientKey: string, pageId: string, since: Date | null): Promise<number>;
  /** Approved workflows whose review interval has passed at `now` (recertification). */
  dueForExpiry(clientKey: string, now: Date): Promise<Workflow[]>;
  /** Workflows that still take decisions (pending, outdated, expired), oldest first. */
  openWorkflows(clientKey: string): Promise<Workflow[]>;
  /** The current round's decisions of every open workflow of the tenant, oldest first. */
  currentDecisionsOfOpen(clientKey: string): Promise<Decision[]>;
}

/** Workflows and decisions inside one transaction: locks last until it ends, writes commit with it. */
export interface WorkflowWrites {
  findWorkflow(clientKey: string, pageId: string, macroId: string): Promise<Workflow | null>;
  /** Locks the workflow row until the transaction ends. */
  lockWorkflow(clientKey: string, pageId: string, macroId: string): Promise<Workflow | null>;
  /** Locks the page's workflows in macro order (the order every page-wide change takes them). */
  lockWorkflowsOfPage(clientKey: string, pageId: string): Promise<Workflow[]>;
  /** The workflows on these pages, unlocked, ordered by page then macro. */
  workflowsOfPages(clientKey: string, pageIds: string[]): Promise<Workflow[]>;
  /** Inserts unless another request created it first; null then. */
  insertWorkflow(clientKey: string, wf: NewWorkflow): Promise<Workflow | null>;
  updateWorkflow(clientKey: string, id: string, patch: WorkflowPatch): Promise<Workflow>;
  decisionsOf(clientKey: string, workflowId: string): Promise<Decision[]>;
}

/** Where a batch of decisions stands once `lockAndRead` has answered. */
export interface BatchRead {
  /** The batch's workflows, locked until the commit, in (page, macro) order. */
  workflows: Workflow[];
  /** Each locked workflow's decisions, oldest first (an empty list for one without). */
  decisions: Map<string, Decision[]>;
  /** The requests recorded under the batch's Idempotency-Keys, by `requestKey`. */
  requests: Map<string, DecisionRequest>;
  /** Every workflow of the batch's pages (unlocked, by page then macro): the stage gate reads them. */
  pageWorkflows: Workflow[];
  /** The people's refs in the audit chain (created where missing), by accountId. */
  refs: Map<string, string>;
}

/** What a batch of decisions writes, committed with its audit events. */
export interface BatchWrites {
  /** In the order they were decided (their ids are given in that order); `id` is not read. */
  decisions: Decision[];
  /** The Idempotency-Keys of the requests that made them: `decision` is the index of its decision in `decisions`. */
  requests: Array<{ decision: number; idempotencyKey: string; requestHash: string }>;
  changes: DecisionChange[];
  /** Their actors' (and the people in their data's) refs came with `lockAndRead`. */
  events: AuditEventInput[];
}

/**
 * A batch of decisions' database work (group commit, decision-apply.ts) in two round trips: everything it
 * reads, with its locks (and BEGIN), in one; everything it writes, with its audit events and the commit, in the
 * other. Ended without `writeAndCommit`, nothing of it stays.
 */
export interface DecisionBatchTx {
  /**
   * Locks the workflows named by (page, macro) in (page, macro) order, creates the chain's subjects of `people`
   * where missing and reads their refs, locks the tenant's audit head (the lock order of every transaction), and
   * then reads the workflows' decisions and the requests recorded under `idempotencyKeys`, and every workflow of
   * `pageIds`: as every transaction that committed before the head was locked left them.
   */
  lockAndRead(
    clientKey: string,
    q: { macros: Array<{ pageId: string; macroId: string }>; idempotencyKeys: string[]; pageIds: string[]; people: string[] },
  ): Promise<BatchRead>;
  /**
   * Writes the batch and appends its events to the locked head, and commits: the decisions' ids (in order) and the
   * workflows as updated. `sending` is called once the statements are built, just before they (and COMMIT) are sent:
   * a failure before it committed nothing; one after it, other than PostgreSQL's error, may have committed.
   */
  writeAndCommit(clientKey: string, w: BatchWrites, sending?: () => void): Promise<{ decisionIds: number[]; workflows: Workflow[] }>;
}

/** The stores of one approvals transaction: a change, the space policy it reads and the audit events that record it. */
export interface ApprovalsTx {
  workflows: WorkflowWrites;
  audit: AuditTx;
  /** The space's policy as this transaction sees it (not the cache). */
  policies: SpacePolicyProvider;
}

/** Everything the approvals service stores or reads: plain reads, and transactions with their bound stores. */
export interface ApprovalsStores extends Transactional<ApprovalsTx> {
  workflows: WorkflowReads;
  /** A transaction for a batch of decisions alone: its reads and its writes in a round trip each, BEGIN and COMMIT included. */
  decisionBatch<T>(work: (tx: DecisionBatchTx) => Promise<T>): Promise<T>;
}

/** Reads of a macro render in one call (src/view-cache: cached until a write to the tenant's rows). */
export interface RenderReads {
  renderSnapshot(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<RenderSnapshot>;
  /** The tenant's delegations nobody ended, for what a view offers (a decision's answer); not for deciding on someone's behalf. */
  openDelegations?(clientKey: string): Promise<readonly Delegation[]>;
}

export interface ApprovalsDeps {
  stores: ApprovalsStores;
  confluence: ConfluenceClient;
  /** Space policies outside transactions (cached). */
  policies: SpacePolicyProvider;
  clock: Clock;
  logger: Logger;
  /** Active delegations (issue 16); without it nobody decides on someone else's behalf. */
  delegations?: DelegationLookup;
  /** What a render reads (policy, workflow, decisions), from a cache invalidated by every write; the stores without it. */
  renderReads?: RenderReads;
  /** The HTML of renders that changed nothing, kept on their cached snapshot (`renderHtml`); none without it. */
  renderedViews?: Pick<RenderedViews, 'get' | 'set'>;
  /**
   * Group commit of one tenant's decisions (issue 15): how many share a transaction at most, and how many
   * such transactions of a tenant run at once, and how long a lone decision may wait for others being checked.
   * `{ maxBatch: 1 }` applies each decision alone.
   */
  decisionBatches?: BatchOptions;
}
