import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import express from 'express';
import hbs from 'express-hbs';
import helmet from 'helmet';
import ace, { AddOn } from 'atlassian-connect-express';
import type { Knex } from 'knex';
import type { Config } from './config';
import { AceStore } from './db/ace-store';
import { createSidePool } from './db/knex';
import { createApprovalsRouter } from './approvals/approvals-router';
import { ApprovalsService } from './approvals/approvals-service';
import { approvalsStores, approvalsTxIn } from './approvals/approvals-tx-store';
import { ApprovalsStore } from './approvals/approvals-store';
import type { SpacePolicyProvider } from './approvals/space-policy';
import { AuditLog, createAuditLog } from './audit/audit-log';
import { createTrailRouter } from './audit/witness/trail-router';
import { AceConfluenceClient } from './confluence/ace-confluence-client';
import { CachedConfluenceClient } from './confluence/cached-confluence-client';
import type { ConfluenceClient } from './confluence/confluence-client';
import { createLifecycleRouter } from './lifecycle/lifecycle-router';
import { createMyApprovalsRouter } from './my-approvals/my-approvals-router';
import { createOpsRouter } from './ops/ops-router';
import { createMetrics } from './ops/metrics';
import { createEvidence } from './evidence/evidence-feature';
import { EvidenceStore } from './evidence/evidence-store';
import { createReport } from './report/report-feature';
import { DEFAULT_EXPORT_LIMITS, ExportLimits } from './evidence/export-limits';
import { createSpacesRouter } from './spaces/spaces-router';
import { createCalendar } from './calendar/calendar-feature';
import { SpaceAdminCheck } from './spaces/space-admin';
import { SpaceDashboardService } from './spaces/space-dashboard-service';
import { SpaceDashboardStore } from './spaces/space-dashboard-store';
import { SpaceSettingsService } from './spaces/space-settings-service';
import { spaceSettingsStores, SpaceSettingsStore, storedPolicies } from './spaces/space-settings-store';
import type { VerificationStatusSource } from './spaces/verification-status';
import { MyApprovalsService } from './my-approvals/my-approvals-service';
import { MyApprovalsStore } from './my-approvals/my-approvals-store';
import { DelegationsService } from './my-approvals/delegations-service';
import { DelegationsStore, delegationsStores } from './my-approvals/delegations-store';
import { registerWebhooks } from './webhooks/webhooks';
import { PageEventsService } from './webhooks/page-events-service';
import { pageEventsStores, PageEventsStore } from './webhooks/page-events-store';
import { keyIdOf, publicKeyPem } from './audit/checkpoint-format';
import type { CheckpointService } from './audit/checkpoint-service';
import { createCheckpoints } from './audit/checkpoint-feature';
import { HttpPrivacyReportClient } from './privacy/privacy-client';
import { PrivacyService } from './privacy/privacy-service';
import { PrivacyStore, privacyStores } from './privacy/privacy-store';
import { tenantJobs } from './scheduler/jobs';
import { reminderDuties, ReminderService } from './scheduler/reminders';
import { approvalsDuties } from './approvals/approvals-duties';
import { checkpointDuties } from './audit/checkpoint-duties';
import { privacyDuties } from './privacy/privacy-duties';
import { pageEventsDuties } from './webhooks/page-events-duties';
import { RemindersStore } from './scheduler/reminders-store';
import { Scheduler } from './scheduler/scheduler';
import { jobLeadership, SchedulerStore } from './scheduler/scheduler-store';
import { Clock, systemClock } from './lib/clock';
import { errorHandler, notFound, refuseUnsafeUrlText, requestLogger } from './lib/http';
import { aceLogger, Logger } from './lib/logger';
import { SecretBox } from './lib/secret-box';
import type { Devhost } from './devhost/devhost';
import { CachedSpacePolicies, createViewCache } from './view-cache/view-cache-feature';
import type { ViewCacheFeature } from './view-cache/view-cache';
import { HOST_SCRIPT_RESOLVER, refuseMalformedJwtClaims, withoutSessionTokens } from './confluence/connect-auth';

export const ROOT = path.resolve(__dirname, '..');
export const DESCRIPTOR_FILE = path.join(ROOT, 'atlassian-connect.json');
/** Atlassian's host script; the devhost serves its own stand-in to the tenants it hosts. */
export const ATLASSIAN_ALL_JS = 'https://connect-cdn.atl-paas.net/all.js';
const STORE_ADAPTER = 'attest-knex';

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

/** The composition root: every service is built once here and handed to the routers that use it. */
export async function createApp(deps: AppDeps): Promise<AttestApp> {
  const { config, db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const app = express();
  // ACE picks its configuration block and defaults (host allow list, descriptor checks) by mode.
  app.set('env', config.isProduction ? 'production' : 'development');
  if (config.isProduction) app.set('trust proxy', true);
  app.disable('x-powered-by');

  const store = new AceStore(db, new SecretBox(config.secretKey));
  // The tenant caches (issue 15) exist before ACE: from here on the store hands it the cached clientInfo.
  const viewCache = await createViewCache({ db, store, logger: logger.child({ component: 'view-cache' }) });
  // Process-wide registrations ACE and handlebars read from globals, in one place.
  ace.store.register(STORE_ADAPTER, () => store as never);
  // ACE reads the install-signing key server from the environment when it verifies an install.
  if (config.connectKeysUrl) process.env.CONNECT_KEYS_CDN_URL = config.connectKeysUrl;

  const devOrigin = new URL(config.localBaseUrl).origin;
  app.use(
    helmet({
      // Confluence shows our pages in iframes: frame-ancestors says who may, not X-Frame-Options.
      xFrameOptions: false,
      crossOriginEmbedderPolicy: false,
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'", 'https://connect-cdn.atl-paas.net'],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:', 'https:'],
          connectSrc: ["'self'"],
          frameSrc: ["'self'"],
          frameAncestors: ["'self'", 'https://*.atlassian.net', ...(config.isProduction ? [] : [devOrigin])],
          formAction: ["'self'"],
          upgradeInsecureRequests: config.isProduction ? [] : null,
        },
      },
    }),
  );
  app.use(requestLogger(logger));
  const metrics = createMetrics({ db, token: config.metricsToken });
  app.use(metrics.httpMiddleware);
  app.use(withoutSessionTokens);
  app.use(express.json({ limit: '256kb' }));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  // Before ACE's routes (it mounts webhooks when configured below) and ours: text no store can keep, and
  // JWT claims ACE would look a tenant up by, are refused here, whatever route they were sent to (#12).
  app.use(refuseUnsafeUrlText);
  app.use(refuseMalformedJwtClaims);

  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  app.engine('hbs', hbs.express4({ defaultLayout: path.join(ROOT, 'views/layout.hbs'), partialsDir: path.join(ROOT, 'views/partials') }));
  app.set('view engine', 'hbs');
  // Compile each template once (Express only turns this on by itself in production).
  app.enable('view cache');
  app.set('views', path.join(ROOT, 'views'));
  app.use('/public', express.static(path.join(ROOT, 'public'), { maxAge: config.isProduction ? '1h' : 0 }));

  // Routes that must come before the ones ACE mounts itself (its webhook routes answer 204 before anything
  // is stored): filled in below, once the add-on exists.
  const beforeAce = express.Router();
  app.use(beforeAce);

  let devhost: Devhost | undefined;
  const addon = await new Promise<AddOn>((resolve) => {
    const instance: AddOn = ace(
      app,
      {
        config: {
          [app.get('env')]: {
            product: 'confluence',
            localBaseUrl: config.localBaseUrl,
            port: config.port,
            store: { adapter: STORE_ADAPTER },
            watch: false,
            setupInstallRoute: false,
            expressErrorHandling: true,
            validateDescriptor: false,
            ...(config.hostAllowList ? { whitelist: config.hostAllowList } : {}),
          },
        },
      } as never,
      aceLogger(logger) as unknown as Console,
      { descriptorFilename: DESCRIPTOR_FILE, configFileName: path.join(ROOT, 'config.json') },
      () => resolve(instance),
    );
  });

  // Views find the host script through this: the devhost's tenants get its stand-in (see connect-auth).
  app.locals.localBaseUrl = config.localBaseUrl;
  app.set(HOST_SCRIPT_RESOLVER, (hostBaseUrl: string) =>
    devhost && devhost.hosts(hostBaseUrl) ? devhost.hostScriptUrl : ATLASSIAN_ALL_JS,
  );

  const confluence = new CachedConfluenceClient(new AceConfluenceClient(addon, logger.child({ component: 'confluence' })), clock);
  const auditClock = deps.auditClock;
  const audit = createAuditLog(db, config.secretKey, {
    onAppended: metrics.appended,
    onHeadLockWait: metrics.headLockWait,
    ...(auditClock ? { now: () => auditClock.now().getTime() } : {}),
  });
  // Rows written before events carried MACs are vouched for once, before anything new is appended.
  for (const a of await audit.adoptAllRowsWithoutMac(db)) logger.info(a, 'audit rows written before MACs adopted');
  // Signed checkpoints and the chain's verification state (#4), published to witnesses the database cannot write.
  const { checkpoints, trail, witnesses } = createCheckpoints({ db, config, confluence, logger });
  const spaceSettingsStore = new SpaceSettingsStore(db);
  const spaceSettings = new SpaceSettingsService({
    stores: spaceSettingsStores(db, { store: spaceSettingsStore, audit }),
    admins: new SpaceAdminCheck(confluence, clock),
    logger: logger.child({ component: 'spaces' }),
    onChanged: (clientKey) => viewCache.cache.configChanged(clientKey),
  });
  // Macros inherit the space's defaults; its policies (self-approval, reset on edit) are the ceiling.
  // Read from the cache outside transactions (invalidated by every change to space_settings, any instance).
  const policies: SpacePolicyProvider = new CachedSpacePolicies(viewCache.cache);
  const verification: VerificationStatusSource = { status: (clientKey) => checkpoints.dashboardStatus(clientKey) };
  // "Out of office" (issue 16): My approvals owns the delegations; deciding, listing and reminding read them.
  const delegations = new DelegationsService({ stores: delegationsStores(db, { store: new DelegationsStore(db), audit }), confluence, clock, logger: logger.child({ component: 'delegations' }) });
  // Inside a transaction a service reads the space policy its transaction sees, not the cache.
  const approvalsTx = { store: new ApprovalsStore(db), audit, policiesIn: (trx: Knex.Transaction) => storedPolicies(spaceSettingsStore, trx) };
  const approvals = new ApprovalsService({
    stores: approvalsStores(db, approvalsTx),
    confluence,
    policies,
    clock,
    delegations,
    logger: logger.child({ component: 'approvals' }),
    renderReads: viewCache.cache,
    decisionBatches: config.decisionBatches,
  });

  // The descriptor names the checkpoint key's id (from this process's key, never the database): Confluence
  // keeps the descriptor it installed, so the fingerprint in force is on record outside the operator's reach.
  const descriptor = {
    ...addon.descriptor,
    links: {
      ...((addon.descriptor as { links?: Record<string, string> }).links ?? {}),
      self: `${config.localBaseUrl}/atlassian-connect.json`,
      'attest-checkpoint-key': `${config.localBaseUrl}/checkpoint-key?keyId=${keyIdOf(config.signingKey)}`,
    },
  };
  app.get('/atlassian-connect.json', (_req, res) => {
    res.json(descriptor);
  });
  // The checkpoint key, from this process over HTTPS, where the database cannot change it: auditors pin it.
  app.get('/checkpoint-key', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json({ algorithm: 'Ed25519', keyId: keyIdOf(config.signingKey), publicKeyPem: publicKeyPem(config.signingKey) });
  });
  app.get('/favicon.ico', (_req, res) => res.status(204).end());
  app.get('/', (_req, res) => res.redirect(config.devhost ? '/devhost' : '/atlassian-connect.json'));
  app.use(createOpsRouter({ db }));
  app.use(metrics.router);
  app.use(createLifecycleRouter({ addon, store, logger }));
  app.use(createApprovalsRouter({ addon, service: approvals, confluence, tenants: (clientKey) => viewCache.cache.tenant(clientKey) }));
  app.use(createTrailRouter({ addon, trail, confluence, db, audit, clock }));
  // Evidence exports (#6): CSV and zip packs of the chain, and the signed links iframes download through.
  // Each holds a snapshot for as long as its download runs: their own small pool and caps (#18).
  const exportLimits = { ...DEFAULT_EXPORT_LIMITS, ...deps.exportLimits };
  const exportDb = createSidePool(db, { poolMax: exportLimits.concurrent, idleInTransactionMs: exportLimits.idleInTransactionMs, logger });
  const evidence = createEvidence({ addon, exportDb, limits: exportLimits, config, clock, confluence, policies, checkpoints, logger: logger.child({ component: 'evidence' }) });
  app.use(evidence.router);
  // The SOC 2 report (#17): read like an export (same pool, same snapshot rules), allowed to whoever may export.
  const report = createReport({ addon, source: new EvidenceStore(exportDb), publicKey: createPublicKey(config.signingKey), secretKey: config.secretKey, clock,
    signHead: (clientKey) => checkpoints.checkpoint(clientKey, clock.now()), authorise: (user, spaceKey) => evidence.service.authorise(user, spaceKey), logger: logger.child({ component: 'report' }) });
  app.use(report.router);
  app.use(
    createSpacesRouter({
      addon,
      settings: spaceSettings,
      dashboard: new SpaceDashboardService({ store: new SpaceDashboardStore(db), settings: spaceSettings, confluence, verification, clock, logger: logger.child({ component: 'spaces' }) }),
      confluence,
      checkpointKeyId: keyIdOf(config.signingKey),
    }),
  );
  // The space's calendar subscription (#17): its admin API, and the feed behind a secret URL (no JWT).
  const clientBaseUrl = async (clientKey: string) => ((await store.get('clientInfo', clientKey)) as { baseUrl?: string } | null)?.baseUrl ?? null;
  const calendar = createCalendar({ addon, db, audit, admins: new SpaceAdminCheck(confluence, clock), hostBaseUrl: clientBaseUrl, localBaseUrl: config.localBaseUrl, clock, logger });
  app.use(calendar.router);
  app.use(createMyApprovalsRouter({ addon, service: new MyApprovalsService({ store: new MyApprovalsStore(db), confluence, policies, clock, delegations }), delegations, confluence }));
  const pageEvents = new PageEventsService({
    stores: pageEventsStores(db, { store: new PageEventsStore(db), approvalsIn: approvalsTxIn(approvalsTx) }),
    approvals,
    confluence,
    clock,
    logger: logger.child({ component: 'page-events' }),
  });
  registerWebhooks({ addon, router: beforeAce, logger, pageEvents });

  // Scheduled duties (#4): recertification, reminders, checkpoints, verification, privacy, inbox retry.
  const privacy = new PrivacyService({
    stores: privacyStores(db, { store: new PrivacyStore(db), audit }),
    client: new HttpPrivacyReportClient(config.privacyUrl, {
      credentials: async (clientKey) => {
        const info = (await store.get('clientInfo', clientKey)) as { key: string; sharedSecret: string } | null;
        return info ? { addonKey: info.key, sharedSecret: info.sharedSecret } : null;
      },
    }),
    logger: logger.child({ component: 'privacy' }),
  });
  const schedulerStore = new SchedulerStore(db);
  const scheduler = new Scheduler({
    leadership: jobLeadership(db, schedulerStore),
    store: schedulerStore,
    clock,
    logger: logger.child({ component: 'scheduler' }),
    // Each feature contributes its scheduled duties; the scheduler runs them for every tenant.
    jobs: tenantJobs({
      store: schedulerStore,
      duties: [
        ...pageEventsDuties(pageEvents),
        ...approvalsDuties(approvals),
        ...reminderDuties(new ReminderService({ approvals, policies, confluence, delegations, store: new RemindersStore(db), logger: logger.child({ component: 'reminders' }) })),
        ...checkpointDuties(checkpoints),
        ...privacyDuties(privacy),
      ],
      logger: logger.child({ component: 'scheduler' }),
    }),
  });

  if (config.devhost) {
    // Required here, not imported above, so that production never loads the stand-in.
    const { createDevhost } = require('./devhost/devhost') as typeof import('./devhost/devhost');
    devhost = createDevhost({ config, logger: logger.child({ component: 'devhost' }), descriptor: addon.descriptor, clock });
    app.use('/devhost', devhost.router);
    if (!witnesses.tsa) witnesses.tsa = { url: `${config.localBaseUrl}/devhost/tsa`, certificatesPem: [devhost.tsa.certificatePem] };
  }

  app.use(notFound);
  app.use(errorHandler(logger));
  return { app, addon, store, audit, confluence, approvals, pageEvents, checkpoints, privacy, scheduler, devhost, viewCache, close: async () => {
    pageEvents.stopHolding();
    await viewCache.stop();
    await exportDb.destroy();
  } };
}
