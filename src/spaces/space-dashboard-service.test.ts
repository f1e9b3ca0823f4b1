import { ManualClock } from '../lib/clock';
import { silentLogger } from '../lib/logger';
import { SpaceDashboardService } from './space-dashboard-service';
import type { SpaceDashboardStore } from './space-dashboard-store';
import type { SpaceSettingsService } from './space-settings-service';
import type { VerificationStatusSource } from './verification-status';

describe('space dashboard: the chain status section', () => {
  const principal = { clientKey: 'site-1', accountId: 'admin', hostBaseUrl: 'https://x.atlassian.net/wiki' };
  const store = {
    page: async () => ({ rows: [], more: false }),
    decisionsOf: async () => [],
    workflowsOfPages: async () => [],
    counts: async () => ({ pending: 0 }),
  } as unknown as SpaceDashboardStore;
  const settings = { assertSpaceAdmin: async () => undefined } as unknown as SpaceSettingsService;
  const service = (verification: VerificationStatusSource) =>
    new SpaceDashboardService({ store, settings, confluence: {} as never, verification, clock: new ManualClock(), logger: silentLogger() });

  it('shows what the injected source says, on the first page only', async () => {
    const status = { verification: { ok: true, checkedAt: '2026-01-01T00:00:00Z', seq: 42 }, checkpoint: { seq: 40, chainHash: 'ab'.repeat(32), signedAt: '2026-01-01T00:00:00Z' } };
    const calls: string[] = [];
    const s = service({ status: async (clientKey) => (calls.push(clientKey), status) });
    expect((await s.list(principal, 'ENG', { limit: 25 })).chain).toEqual(status);
    expect(calls).toEqual(['site-1']);
  });

  it('says nothing when there is no source yet or it fails, and still lists the workflows', async () => {
    expect((await service({ status: async () => null }).list(principal, 'ENG', { limit: 25 })).chain).toBeNull();
    const failing = await service({ status: async () => { throw new Error('table audit_checkpoints does not exist'); } }).list(principal, 'ENG', { limit: 25 });
    expect(failing).toMatchObject({ chain: null, items: [], nextCursor: null });
  });
});
