import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { TenantLookup } from '../confluence/lean-page-jwt';
import type { Clock } from '../lib/clock';
import type { PersonalDataHolder } from '../db/personal-data';
import type { Logger } from '../lib/logger';
import type { RenderedViews } from '../view-cache/rendered-views';
import type { TenantDuty } from '../scheduler/jobs';
import { approvalsDuties } from './approvals-duties';
import { createApprovalsRouter } from './approvals-router';
import { ApprovalsService, RenderReads } from './approvals-service';
import { ApprovalsStore } from './approvals-store';
import { approvalsStores, approvalsTxIn } from './approvals-tx-store';
import type { ApprovalsTx } from './approvals-ports';
import type { DelegationLookup } from './delegation';
import type { BatchOptions } from './decision-batches';
import type { SpacePolicyProvider } from './space-policy';

/** Builds the approvals feature (the macro, its API, decisions) for the composition root: service, routes, duties. */
export function createApprovals(deps: {
  db: Knex;
  addon: AddOn;
  audit: AuditLog;
  confluence: ConfluenceClient;
  policies: SpacePolicyProvider;
  /** The space policies a transaction sees (the spaces feature's). */
  policiesIn: (trx: Knex.Transaction) => SpacePolicyProvider;
  delegations: DelegationLookup;
  renderReads: RenderReads;
  /** The HTML of renders that changed nothing, kept while their snapshot is cached. */
  renderedViews?: RenderedViews;
  /** The macro's page JWT is checked against these (a cache invalidated by tenant changes). */
  tenants: TenantLookup;
  decisionBatches?: BatchOptions;
  clock: Clock;
  logger: Logger;
}): {
  service: ApprovalsService;
  /** The approvals stores bound to another feature's transaction (page events apply page changes in theirs). */
  txIn: (trx: Knex.Transaction) => ApprovalsTx;
  router: Router;
  duties: TenantDuty[];
  /** The people its workflows and decisions name (privacy lists and erases them through this). */
  personalData: PersonalDataHolder;
} {
  const tx = { store: new ApprovalsStore(deps.db), audit: deps.audit, policiesIn: deps.policiesIn };
  const service = new ApprovalsService({
    stores: approvalsStores(deps.db, tx),
    confluence: deps.confluence,
    policies: deps.policies,
    clock: deps.clock,
    delegations: deps.delegations,
    logger: deps.logger,
    renderReads: deps.renderReads,
    renderedViews: deps.renderedViews,
    decisionBatches: deps.decisionBatches,
  });
  return {
    service,
    txIn: approvalsTxIn(tx),
    personalData: tx.store,
    router: createApprovalsRouter({ addon: deps.addon, service, confluence: deps.confluence, tenants: deps.tenants }),
    duties: approvalsDuties(service),
  };
}
