import type { TenantDuty } from '../scheduler/jobs';
import type { CheckpointService } from './checkpoint-service';

/**
 * Every run verifies the chain since the last checkpoint and signs a head that passed and moved; a full
 * re-verification runs nightly.
 */
export function checkpointDuties(checkpoints: CheckpointService): TenantDuty[] {
  return [
    {
      name: 'checkpoints',
      schedule: '*/5 * * * *',
      run: async (clientKey, tick) => {
        if (!(await checkpoints.verifyIncremental(clientKey, tick))) return { verifyFailed: 1 };
        return { [await checkpoints.checkpoint(clientKey, tick)]: 1 };
      },
    },
    {
      name: 'verify-full',
      schedule: '30 2 * * *',
      run: async (clientKey, tick) => ({ [(await checkpoints.verifyFull(clientKey, tick)) ? 'ok' : 'failed']: 1 }),
    },
  ];
}
