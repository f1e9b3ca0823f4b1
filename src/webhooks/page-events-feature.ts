import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { ApprovalsTx } from '../approvals/approvals-ports';
import type { ApprovalsService } from '../approvals/approvals-service';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { PersonalDataHolder } from '../db/personal-data';
import type { Logger } from '../lib/logger';
import type { TenantDuty } from '../scheduler/jobs';
import { pageEventsDuties } from './page-events-duties';
import { PageEventsService } from './page-events-service';
import { pageEventsStores, PageEventsStore } from './page-events-store';
import { registerWebhooks } from './webhooks';

/**
 * Builds the page events feature (Confluence's page webhooks into the inbox, then applied to workflows): its
 * routes go on `webhookRouter`, which the root mounts before ACE's own webhook routes.
 */
export function createPageEvents(deps: {
  db: Knex;
  addon: AddOn;
  approvals: ApprovalsService;
  /** The approvals stores bound to this feature's transactions (a page event and its page change commit together). */
  approvalsIn: (trx: Knex.Transaction) => ApprovalsTx;
  confluence: ConfluenceClient;
  webhookRouter: Router;
  clock: Clock;
  logger: Logger;
}): { service: PageEventsService; duties: TenantDuty[]; personalData: PersonalDataHolder } {
  const store = new PageEventsStore(deps.db);
  const service = new PageEventsService({
    stores: pageEventsStores(deps.db, { store, approvalsIn: deps.approvalsIn }),
    approvals: deps.approvals,
    confluence: deps.confluence,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'page-events' }),
  });
  registerWebhooks({ addon: deps.addon, router: deps.webhookRouter, logger: deps.logger, pageEvents: service });
  return { service, duties: pageEventsDuties(service), personalData: store };
}
