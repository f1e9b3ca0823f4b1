import type { TenantDuty } from '../scheduler/jobs';
import type { PageEventsService } from './page-events-service';

/** Page events that could not be applied when they arrived are tried again, in order, every minute. */
export function pageEventsDuties(pageEvents: PageEventsService): TenantDuty[] {
  return [
    {
      name: 'page-events-retry',
      schedule: '* * * * *',
      run: async (clientKey, tick) => {
        const r = await pageEvents.retryUnprocessed(clientKey, tick);
        return { retried: r.retried, failed: r.failed };
      },
    },
  ];
}
