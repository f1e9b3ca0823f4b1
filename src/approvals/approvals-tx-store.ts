import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import { pipelinedTransaction } from '../db/pipeline';
import { withTransactional } from '../db/transactional';
import type { ApprovalsStores, ApprovalsTx, WorkflowWrites } from './approvals-ports';
import type { ApprovalsStore } from './approvals-store';
import { decisionBatchIn } from './decision-batch-tx';
import type { SpacePolicyProvider } from './space-policy';

/** The approvals store's locking and writing methods bound to `trx` (looked up at each call). */
export function workflowsIn(store: ApprovalsStore, trx: Knex.Transaction): WorkflowWrites {
  return {
    findWorkflow: (ck, pageId, macroId) => store.findWorkflow(ck, pageId, macroId, trx),
    lockWorkflow: (ck, pageId, macroId) => store.lockWorkflow(ck, pageId, macroId, trx),
    lockWorkflowsOfPage: (ck, pageId) => store.lockWorkflowsOfPage(ck, pageId, trx),
    workflowsOfPages: (ck, pageIds) => store.workflowsOfPages(ck, pageIds, trx),
    insertWorkflow: (ck, wf) => store.insertWorkflow(ck, wf, trx),
    updateWorkflow: (ck, id, patch) => store.updateWorkflow(ck, id, patch, trx),
    decisionsOf: (ck, workflowId) => store.decisionsOf(ck, workflowId, trx),
  };
}

/** What binds the approvals stores to a transaction: its workflows, the audit chain and the space policies on it. */
export interface ApprovalsTxDeps {
  store: ApprovalsStore;
  audit: AuditLog;
  /** The space policies read inside `trx` (the settings store on it, not the cache). */
  policiesIn: (trx: Knex.Transaction) => SpacePolicyProvider;
}

/** The approvals stores bound to `trx` (also for another feature's transaction that changes workflows, e.g. the page-event inbox). */
export function approvalsTxIn(deps: ApprovalsTxDeps): (trx: Knex.Transaction) => ApprovalsTx {
  return (trx) => ({ workflows: workflowsIn(deps.store, trx), audit: deps.audit.in(trx), policies: deps.policiesIn(trx) });
}

/** The approvals service's stores on `db`: reads on the pool, and transactions whose work gets the stores bound to them. */
export function approvalsStores(db: Knex, deps: ApprovalsTxDeps): ApprovalsStores {
  return {
    workflows: deps.store,
    transaction: withTransactional(db, approvalsTxIn(deps)).transaction,
    // Planned once per connection: each of the batch's statements looks its rows up by key (decision-batch-tx.ts).
    decisionBatch: (work) => pipelinedTransaction(db, (tx) => work(decisionBatchIn(deps.audit, tx)), { genericPlans: true }),
  };
}
