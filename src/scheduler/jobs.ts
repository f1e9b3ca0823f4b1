import type { Logger } from '../lib/logger';
import type { Job } from './scheduler';
import type { SchedulerStore } from './scheduler-store';

/** What one run of a duty did for one tenant, counted into the job's run record (e.g. `{ sent: 2 }`). */
export type DutyCounts = Record<string, number>;

/**
 * A scheduled duty a feature contributes: run for every installed tenant on its schedule (UTC, node-cron
 * syntax). It must be safe to run twice for the same tick.
 */
export interface TenantDuty {
  name: string;
  schedule: string;
  run(clientKey: string, tick: Date): Promise<DutyCounts>;
}

/**
 * Turns the features' duties into the scheduler's jobs, each run for every installed tenant. A tenant whose
 * run throws is counted and logged; the others still run.
 */
export function tenantJobs(deps: { store: SchedulerStore; duties: TenantDuty[]; logger: Logger }): Job[] {
  return deps.duties.map((duty) => ({
    name: duty.name,
    schedule: duty.schedule,
    run: async (tick: Date): Promise<DutyCounts> => {
      const counts: DutyCounts = { tenants: 0, tenantErrors: 0 };
      for (const clientKey of await deps.store.installedTenants()) {
        counts.tenants++;
        try {
          for (const [key, n] of Object.entries(await duty.run(clientKey, tick))) counts[key] = (counts[key] ?? 0) + n;
        } catch (err) {
          counts.tenantErrors++;
          deps.logger.error({ err, job: duty.name, clientKey }, 'job failed for a tenant');
        }
      }
      return counts;
    },
  }));
}
