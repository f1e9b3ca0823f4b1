import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import type { AuditLog } from '../audit/audit-log';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { PersonalDataHolder } from '../db/personal-data';
import type { Logger } from '../lib/logger';
import { DelegationsService } from './delegations-service';
import { DelegationsStore, delegationsStores } from './delegations-store';
import { createMyApprovalsRouter } from './my-approvals-router';
import { MyApprovalsService } from './my-approvals-service';
import { MyApprovalsStore } from './my-approvals-store';

/**
 * Builds "My approvals" and the delegations it owns ("out of office", issue 16) for the composition root:
 * deciding, listing and reminding read the delegations, so they are built before the approvals feature.
 */
export function createMyApprovals(deps: {
  db: Knex;
  addon: AddOn;
  audit: AuditLog;
  confluence: ConfluenceClient;
  policies: SpacePolicyProvider;
  clock: Clock;
  logger: Logger;
}): { delegations: DelegationsService; router: Router; personalData: PersonalDataHolder } {
  const { db, confluence, clock, policies } = deps;
  const store = new DelegationsStore(db);
  const delegations = new DelegationsService({ stores: delegationsStores(db, { store, audit: deps.audit }), confluence, clock, logger: deps.logger.child({ component: 'delegations' }) });
  const service = new MyApprovalsService({ store: new MyApprovalsStore(db), confluence, policies, clock, delegations });
  return { delegations, personalData: store, router: createMyApprovalsRouter({ addon: deps.addon, service, delegations, confluence }) };
}
