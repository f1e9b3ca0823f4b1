import type { Knex } from 'knex';
import type { ApprovalsService } from '../approvals/approvals-service';
import type { DelegationLookup } from '../approvals/delegation';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { PersonalDataHolder } from '../db/personal-data';
import type { Logger } from '../lib/logger';
import { TenantDuty, tenantJobs } from './jobs';
import { reminderDuties, ReminderService } from './reminders';
import { RemindersStore } from './reminders-store';
import { Scheduler } from './scheduler';
import { jobLeadership, SchedulerStore } from './scheduler-store';

/** The reminders duty (due and overdue approvals, to approvers or their delegates). */
export function createReminders(deps: {
  db: Knex;
  approvals: ApprovalsService;
  policies: SpacePolicyProvider;
  confluence: ConfluenceClient;
  delegations: DelegationLookup;
  logger: Logger;
}): { duties: TenantDuty[]; personalData: PersonalDataHolder } {
  const { db, approvals, policies, confluence, delegations } = deps;
  const store = new RemindersStore(db);
  const service = new ReminderService({ approvals, policies, confluence, delegations, store, logger: deps.logger.child({ component: 'reminders' }) });
  return { duties: reminderDuties(service), personalData: store };
}

/** The scheduler, running every duty the features contribute for every installed tenant. */
export function createScheduler(deps: { db: Knex; duties: TenantDuty[]; clock: Clock; logger: Logger }): Scheduler {
  const store = new SchedulerStore(deps.db);
  const logger = deps.logger.child({ component: 'scheduler' });
  return new Scheduler({ leadership: jobLeadership(deps.db, store), store, clock: deps.clock, logger, jobs: tenantJobs({ store, duties: deps.duties, logger }) });
}
