import type { TenantDuty } from '../scheduler/jobs';
import type { PrivacyService } from './privacy-service';

/** Atlassian's personal data reporting cycle: report the accounts Attest holds, erase the closed ones. */
export function privacyDuties(privacy: PrivacyService): TenantDuty[] {
  return [
    {
      name: 'privacy',
      schedule: '15 * * * *',
      run: async (clientKey, tick) => {
        const r = await privacy.runCycle(clientKey, tick);
        return { [r.status]: 1, reported: r.reported, erased: r.erased };
      },
    },
  ];
}
