import type { ApprovalsService } from '../approvals/approvals-service';
import type { CheckpointService } from '../audit/checkpoint-service';
import type { Logger } from '../lib/logger';
import type { PrivacyService } from '../privacy/privacy-service';
import type { PageEventsService } from '../webhooks/page-events-service';
import type { ReminderService } from './reminders';
import type { Job } from './scheduler';
import type { SchedulerStore } from './scheduler-store';

/** Default schedules (UTC, node-cron syntax). */
export const DEFAULT_SCHEDULES = {
  'page-events-retry': '* * * * *',
  recertification: '*/15 * * * *',
  reminders: '0 * * * *',
  checkpoints: '*/5 * * * *',
  'verify-full': '30 2 * * *',
  privacy: '15 * * * *',
} as const;

export type JobName = keyof typeof DEFAULT_SCHEDULES;

type Counts = Record<string, number>;

/**
 * The scheduled duties, each run for every installed tenant. A tenant whose run throws is counted
 * and logged; the others still run.
 */
export function createJobs(deps: {
  store: SchedulerStore;
  approvals: ApprovalsService;
  pageEvents: PageEventsService;
  reminders: ReminderService;
  checkpoints: CheckpointService;
  privacy: PrivacyService;
  logger: Logger;
  schedules?: Partial<Record<JobName, string>>;
}): Job[] {
  const perTenant =
    (name: JobName, fn: (clientKey: string, tick: Date, counts: Counts) => Promise<void>) =>
    async (tick: Date): Promise<Counts> => {
      const counts: Counts = { tenants: 0, tenantErrors: 0 };
      for (const clientKey of await deps.store.installedTenants()) {
        counts.tenants++;
        try {
          await fn(clientKey, tick, counts);
        } catch (err) {
          counts.tenantErrors++;
          deps.logger.error({ err, job: name, clientKey }, 'job failed for a tenant');
        }
      }
      return counts;
    };
  const add = (counts: Counts, key: string, n = 1) => {
    counts[key] = (counts[key] ?? 0) + n;
  };
  const job = (name: JobName, fn: (clientKey: string, tick: Date, counts: Counts) => Promise<void>): Job => ({
    name,
    schedule: deps.schedules?.[name] ?? DEFAULT_SCHEDULES[name],
    run: perTenant(name, fn),
  });

  return [
    job('page-events-retry', async (ck, tick, c) => {
      const r = await deps.pageEvents.retryUnprocessed(ck, tick);
      add(c, 'retried', r.retried);
      add(c, 'failed', r.failed);
    }),
    job('recertification', async (ck, tick, c) => {
      add(c, 'expired', (await deps.approvals.expireDue(ck, tick)).length);
    }),
    job('reminders', async (ck, tick, c) => {
      const r = await deps.reminders.sendDue(ck, tick);
      add(c, 'sent', r.sent);
      add(c, 'failed', r.failed);
    }),
    // Every run verifies since the last checkpoint; a head that passes and moved is signed.
    job('checkpoints', async (ck, tick, c) => {
      if (!(await deps.checkpoints.verifyIncremental(ck, tick))) return add(c, 'verifyFailed');
      add(c, await deps.checkpoints.checkpoint(ck, tick));
    }),
    job('verify-full', async (ck, tick, c) => {
      add(c, (await deps.checkpoints.verifyFull(ck, tick)) ? 'ok' : 'failed');
    }),
    job('privacy', async (ck, tick, c) => {
      const r = await deps.privacy.runCycle(ck, tick);
      add(c, r.status);
      add(c, 'reported', r.reported);
      add(c, 'erased', r.erased);
    }),
  ];
}
