import { createPublicKey } from 'node:crypto';
import express from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { Config } from './config';
import { createHttpShell, registerProcessWide, startAddon } from './bootstrap';
import { AceStore } from './db/ace-store';
import { createSidePool } from './db/knex';
import { createApprovals } from './approvals/approvals-feature';
import type { ApprovalsService } from './approvals/approvals-service';
import { AuditLog, createAuditLog } from './audit/audit-log';
import { AuditStore } from './audit/audit-store';
import { keyIdOf } from './audit/checkpoint-format';
import type { CheckpointService } from './audit/checkpoint-service';
import { createCheckpoints } from './audit/checkpoint-feature';
import { createCalendar } from './calendar/calendar-feature';
import { RestConfluenceClient } from './confluence/rest-confluence-client';
import { SignedHttp } from './confluence/signed-http';
import { CachedConfluenceClient } from './confluence/cached-confluence-client';
import type { ConfluenceClient } from './confluence/confluence-client';
import { HOST_SCRIPT_RESOLVER } from './confluence/connect-auth';
import type { Devhost } from './devhost/devhost';
import { createEvidence } from './evidence/evidence-feature';
import { AuditReadModel } from './audit/audit-read-model';
import { DEFAULT_EXPORT_LIMITS, ExportLimits } from './evidence/export-limits';
import { createDescriptorRouter } from './lifecycle/descriptor-router';
import { createLifecycleRouter } from './lifecycle/lifecycle-router';
import { Clock, systemClock } from './lib/clock';
import { errorHandler, notFound } from './lib/http';
import type { Logger } from './lib/logger';
import { SecretBox } from './lib/secret-box';
import { createMyApprovals } from './my-approvals/my-approvals-feature';
import { createMetrics, Metrics } from './ops/metrics';
import { createOpsRouter } from './ops/ops-router';
import { createPrivacy } from './privacy/privacy-feature';
import type { PrivacyService } from './privacy/privacy-service';
import { createReport } from './report/report-feature';
import type { TenantDuty } from './scheduler/jobs';
import type { Scheduler } from './scheduler/scheduler';
import { createReminders, createScheduler } from './scheduler/scheduler-feature';
import { createSpaces } from './spaces/spaces-feature';
import { CachedSpacePolicies, createViewCache } from './view-cache/view-cache-feature';
import type { ViewCacheFeature } from './view-cache/view-cache';
import { createPageEvents } from './webhooks/page-events-feature';
import type { PageEventsService } from './webhooks/page-events-service';

/** Atlassian's host script; the devhost serves its own stand-in to the tenants it hosts. */
export const ATLASSIAN_ALL_JS = 'https://connect-cdn.atl-paas.net/all.js';

export interface AppDeps {
  config: Config;
  db: Knex;
  logger: Logger;
  clock?: Clock;
  /**
   * The time audit events record (default: the system clock, whatever `clock` says). Tests that move the app's
   * clock over months and read the trail's times (the SOC 2 report) pass the same clock here.
   */
  auditClock?: Clock;
  /** Caps and timeouts of evidence exports (tests shorten the timeouts). */
  exportLimits?: Partial<ExportLimits>;
}

export interface AttestApp {
  app: express.Express;
  addon: AddOn;
  store: AceStore;
  audit: AuditLog;
  confluence: ConfluenceClient;
  approvals: ApprovalsService;
  pageEvents: PageEventsService;
  /** Signed checkpoints and the chain's verification state (verificationStatus for admin screens). */
  checkpoints: CheckpointService;
  privacy: PrivacyService;
  /** Scheduled duties; server.ts starts it, tests call runDue. */
  scheduler: Scheduler;
  devhost?: Devhost;
  /** What macro renders read, cached until a write to the tenant's rows (issue 15). */
  viewCache: ViewCacheFeature;
  /** Closes what the app opened itself (the exports' pool); the caller closes `db`. */
  close(): Promise<void>;
}

/** What every feature is built on: the HTTP shell with ACE started on it, and the shared services. */
interface Core {
  app: express.Express;
  addon: AddOn;
  /** Routes mounted before ACE's own (its webhook routes answer 204 before anything is stored). */
  beforeAce: express.Router;
  /** Where the devhost's REST API goes: in front of the shell's middleware. */
  devhostRest: express.Router;
  store: AceStore;
  viewCache: ViewCacheFeature;
  metrics: Metrics;
  confluence: CachedConfluenceClient;
  audit: AuditLog;
  clock: Clock;
}

/**
 * The composition root (issue 14 §3): the shell and process-wide registrations come from src/bootstrap.ts,
 * each feature builds itself (`create<Feature>`: service, routes, scheduled duties) and this only wires them.
 */
export async function createApp(deps: AppDeps): Promise<AttestApp> {
  const core = await createCore(deps);
  const f = await createFeatures(deps, core);
  const { app } = core;
  let devhost: Devhost | undefined;
  if (deps.config.devhost) {
    // Required here, not imported above, so that production never loads the stand-in.
    const { createDevhost } = require('./devhost/devhost') as typeof import('./devhost/devhost');
    devhost = createDevhost({ config: deps.config, logger: deps.logger.child({ component: 'devhost' }), descriptor: core.addon.descriptor, clock: core.clock });
    core.devhostRest.use(devhost.restRouter);
    app.use('/devhost', devhost.router);
    if (!f.witnesses.tsa) f.witnesses.tsa = { url: `${deps.config.localBaseUrl}/devhost/tsa`, certificatesPem: [devhost.tsa.certificatePem] };
  }
  // Views find the host script through this: the devhost's tenants get its stand-in (see connect-auth).
  app.set(HOST_SCRIPT_RESOLVER, (hostBaseUrl: string) => (devhost && devhost.hosts(hostBaseUrl) ? devhost.hostScriptUrl : ATLASSIAN_ALL_JS));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  const { store, audit, confluence, viewCache } = core;
  const { approvals, pageEvents, checkpoints, privacy, scheduler, exportDb } = f;
  return { app, addon: core.addon, store, audit, confluence, approvals, pageEvents, checkpoints, privacy, scheduler, devhost, viewCache, close: async () => {
    pageEvents.stopHolding();
    await viewCache.stop();
    await exportDb.destroy();
  } };
}

/** The shell, ACE and the services every feature shares (tenant caches, Confluence, the audit log). */
async function createCore(deps: AppDeps): Promise<Core> {
  const { config, db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const store = new AceStore(db, new SecretBox(config.secretKey));
  // The tenant caches (issue 15) exist before ACE: from here on the store hands it the cached clientInfo.
  const viewCache = await createViewCache({ db, store, logger: logger.child({ component: 'view-cache' }), now: () => clock.now().getTime() });
  registerProcessWide(config, store);
  const metrics = createMetrics({ db, token: config.metricsToken, listener: viewCache.listener });
  // Filled with the devhost's REST API once the devhost exists (createApp), when there is one.
  const devhostRest = express.Router();
  const app = createHttpShell(config, logger, metrics, config.devhost ? { path: '/devhost', router: devhostRest } : undefined);
  const beforeAce = express.Router();
  app.use(beforeAce);
  const addon = await startAddon(app, config, logger);
  // App-signed REST calls with the tenant's secret from the same cache as the page JWTs (no store read per call).
  const signed = new SignedHttp(addon.key, (clientKey) => viewCache.cache.tenant(clientKey), (addon.config.userAgent as unknown as (appKey: string) => string)(addon.key));
  const confluence = new CachedConfluenceClient(new RestConfluenceClient(addon.key, logger.child({ component: 'confluence' }), signed), clock);
  const auditClock = deps.auditClock;
  const audit = createAuditLog(db, config.secretKey, {
    onAppended: metrics.appended,
    onHeadLockWait: metrics.headLockWait,
    ...(auditClock ? { now: () => auditClock.now().getTime() } : {}),
  });
  // Rows written before events carried MACs are vouched for once, before anything new is appended.
  for (const a of await audit.adoptAllRowsWithoutMac(db)) logger.info(a, 'audit rows written before MACs adopted');
  return { app, addon, beforeAce, devhostRest, store, viewCache, metrics, confluence, audit, clock };
}

/** Every feature, built in dependency order, its routes mounted in the order they are matched. */
async function createFeatures(deps: AppDeps, core: Core) {
  const { config, db, logger } = deps;
  const { app, addon, audit, confluence, clock, viewCache } = core;
  // Signed checkpoints and the chain's verification state (#4), published to witnesses the database cannot write.
  const { checkpoints, router: trailRouter, witnesses, duties: checkpointJobs } = createCheckpoints({ db, addon, audit, config, confluence, clock, logger });
  const spaces = createSpaces({ db, addon, audit, confluence, clock, logger, checkpointKeyId: keyIdOf(config.signingKey),
    verification: { status: (clientKey) => checkpoints.dashboardStatus(clientKey) }, onChanged: (clientKey) => viewCache.cache.configChanged(clientKey) });
  // Macros inherit the space's defaults; its policies (self-approval, reset on edit) are the ceiling.
  // Read from the cache outside transactions (invalidated by every change to space_settings, any instance).
  const policies = new CachedSpacePolicies(viewCache.cache);
  const mine = createMyApprovals({ db, addon, audit, confluence, policies, clock, logger });
  const approvals = createApprovals({ db, addon, audit, confluence, policies, policiesIn: spaces.policiesIn, clock, delegations: mine.delegations, logger: logger.child({ component: 'approvals' }),
    renderReads: viewCache.cache, renderedViews: viewCache.rendered, tenants: (clientKey) => viewCache.cache.tenant(clientKey), decisionBatches: { ...config.decisionBatches, onBatch: core.metrics.decisionBatch } });
  const exports = createExports(deps, core, checkpoints, policies);
  const calendar = createCalendar({ addon, db, audit, admins: spaces.admins, hostBaseUrl: clientBaseUrl(core.store), localBaseUrl: config.localBaseUrl, clock, logger });
  const pageEvents = createPageEvents({ db, addon, approvals: approvals.service, approvalsIn: approvals.txIn, confluence, webhookRouter: core.beforeAce, clock, logger });
  const reminders = createReminders({ db, approvals: approvals.service, policies, confluence, delegations: mine.delegations, logger });
  // Every table that keeps accountIds is offered by its owner; the audit chain's subjects are erased last.
  const personalData = { holders: [approvals.personalData, mine.personalData, reminders.personalData, spaces.personalData, pageEvents.personalData], subjects: new AuditStore(db) };
  const privacy = createPrivacy({ db, audit, privacyUrl: config.privacyUrl, credentials: credentialsOf(core.store), personalData, logger });
  for (const router of [
    createDescriptorRouter({ addon, config }),
    createOpsRouter({ db }),
    core.metrics.router,
    createLifecycleRouter({ addon, store: core.store, logger }),
    approvals.router,
    trailRouter,
    exports.evidence.router,
    exports.report.router,
    spaces.router,
    calendar.router,
    mine.router,
  ]) app.use(router);
  // Scheduled duties (#4): each feature contributes its own; the scheduler runs them for every tenant.
  const duties: TenantDuty[] = [...pageEvents.duties, ...approvals.duties, ...reminders.duties, ...checkpointJobs, ...privacy.duties];
  const scheduler = createScheduler({ db, duties, clock, logger });
  return { approvals: approvals.service, pageEvents: pageEvents.service, checkpoints, witnesses, privacy: privacy.service, scheduler, exportDb: exports.exportDb };
}

/**
 * Evidence exports (#6) and the SOC 2 report (#17): each holds a snapshot for as long as its download runs, so
 * they share their own small pool and caps (#18); the report is allowed to whoever may export.
 */
function createExports(deps: AppDeps, core: Core, checkpoints: CheckpointService, policies: CachedSpacePolicies) {
  const { config, db, logger } = deps;
  const { addon, clock, confluence } = core;
  const limits = { ...DEFAULT_EXPORT_LIMITS, ...deps.exportLimits };
  const exportDb = createSidePool(db, { poolMax: limits.concurrent, idleInTransactionMs: limits.idleInTransactionMs, logger });
  const evidence = createEvidence({ addon, exportDb, limits, config, clock, confluence, policies, checkpoints, logger: logger.child({ component: 'evidence' }) });
  const report = createReport({ addon, source: new AuditReadModel(exportDb), publicKey: createPublicKey(config.signingKey), secretKey: config.secretKey, clock,
    signHead: (clientKey) => checkpoints.checkpoint(clientKey, clock.now()), authorise: (user, spaceKey) => evidence.service.authorise(user, spaceKey), logger: logger.child({ component: 'report' }) });
  return { exportDb, evidence, report };
}

function clientBaseUrl(store: AceStore): (clientKey: string) => Promise<string | null> {
  return async (clientKey) => ((await store.get('clientInfo', clientKey)) as { baseUrl?: string } | null)?.baseUrl ?? null;
}

function credentialsOf(store: AceStore): (clientKey: string) => Promise<{ addonKey: string; sharedSecret: string } | null> {
  return async (clientKey) => {
    const info = (await store.get('clientInfo', clientKey)) as { key: string; sharedSecret: string } | null;
    return info ? { addonKey: info.key, sharedSecret: info.sharedSecret } : null;
  };
}
