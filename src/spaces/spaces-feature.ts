import type { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { SpacePolicyProvider } from '../approvals/space-policy';
import type { AuditLog } from '../audit/audit-log';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import type { PersonalDataHolder } from '../db/personal-data';
import type { Logger } from '../lib/logger';
import { SpaceAdminCheck } from './space-admin';
import { SpaceDashboardService } from './space-dashboard-service';
import { SpaceDashboardStore } from './space-dashboard-store';
import { SpaceSettingsService } from './space-settings-service';
import { spaceSettingsStores, SpaceSettingsStore, storedPolicies } from './space-settings-store';
import { createSpacesRouter } from './spaces-router';
import type { VerificationStatusSource } from './verification-status';

/** Builds the space admin feature (settings, policies' source, dashboard) for the composition root. */
export function createSpaces(deps: {
  db: Knex;
  addon: AddOn;
  audit: AuditLog;
  confluence: ConfluenceClient;
  /** The chain's verification state the dashboard shows (the checkpoints feature). */
  verification: VerificationStatusSource;
  /** The checkpoint signing key's id, shown to admins from the running process (never read from the database). */
  checkpointKeyId: string;
  /** After a settings change committed: this instance's caches forget the tenant's policies. */
  onChanged: (clientKey: string) => void;
  clock: Clock;
  logger: Logger;
}): {
  settings: SpaceSettingsService;
  admins: SpaceAdminCheck;
  /** The space policies a transaction sees (a service deciding inside one reads these, not the cache). */
  policiesIn: (trx: Knex.Transaction) => SpacePolicyProvider;
  router: Router;
  /** Who changed settings and the spaces' default approvers (privacy lists and erases them through this). */
  personalData: PersonalDataHolder;
} {
  const { db, confluence, clock } = deps;
  const logger = deps.logger.child({ component: 'spaces' });
  const admins = new SpaceAdminCheck(confluence, clock);
  const store = new SpaceSettingsStore(db);
  const settings = new SpaceSettingsService({ stores: spaceSettingsStores(db, { store, audit: deps.audit }), admins, logger, onChanged: deps.onChanged });
  const dashboard = new SpaceDashboardService({ store: new SpaceDashboardStore(db), settings, confluence, verification: deps.verification, clock, logger });
  return { settings, admins, personalData: store, policiesIn: (trx) => storedPolicies(store, trx), router: createSpacesRouter({ addon: deps.addon, settings, dashboard, confluence, checkpointKeyId: deps.checkpointKeyId }) };
}
