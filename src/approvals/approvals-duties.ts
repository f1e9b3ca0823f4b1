import type { TenantDuty } from '../scheduler/jobs';
import type { ApprovalsService } from './approvals-service';

/** Recertification: approvals whose review interval has passed expire and open a new round. */
export function approvalsDuties(approvals: ApprovalsService): TenantDuty[] {
  return [
    {
      name: 'recertification',
      schedule: '*/15 * * * *',
      run: async (clientKey, tick) => ({ expired: (await approvals.expireDue(clientKey, tick)).length }),
    },
  ];
}
