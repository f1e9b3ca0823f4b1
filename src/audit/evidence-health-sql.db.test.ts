import { generateKeyPairSync } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { tenantCheckpointLags } from '../cli/checkpoints';
import { createLogger } from '../lib/logger';
import { createMetrics } from '../ops/metrics';
import { createCheckpointService } from './checkpoint-service';

type Check = { status: 'ok' | 'failed'; at: number } | null;

/**
 * A failed chain check as the service counts it, everywhere it is counted outside the service: the metric
 * `attest_verification_failed_tenants` and `attest checkpoints` agree with `CheckpointService.verificationStatus` on
 * every combination of a tenant's full and incremental records (none, ok or failed, at three times). Before, both
 * counted any failed row, so an incremental failure that a later full check had cleared kept the alert firing.
 */
describe('failed chain checks outside the checkpoint service', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(() => tdb.drop());

  it('are the tenants the service says failed, with the same failing record', async () => {
    const options: Check[] = [null];
    for (const status of ['ok', 'failed'] as const) for (const at of [1, 2, 3]) options.push({ status, at });
    const tenants: string[] = [];
    for (const [i, full] of options.entries()) {
      for (const [j, incremental] of options.entries()) {
        const ck = `vf-${i}-${j}`;
        tenants.push(ck);
        await tdb.db('audit_heads').insert({ client_key: ck, seq: 0 });
        for (const [scope, check, base] of [['full', full, 100], ['incremental', incremental, 200]] as const) {
          if (!check) continue;
          await tdb.db('audit_verification').insert({
            client_key: ck,
            scope,
            mode: scope === 'full' ? 'full' : 'checkpoint',
            status: check.status,
            first_bad_seq: check.status === 'failed' ? base + check.at : null,
            reason: check.status === 'failed' ? `${scope} failed` : null,
            checked_at: new Date(Date.UTC(2026, 11, 1, check.at)),
          });
        }
      }
    }
    const service = createCheckpointService(tdb.db, { signingKey: generateKeyPairSync('ed25519').privateKey, secretKey: Buffer.alloc(32, 7) }, createLogger({ level: 'silent' }));
    const byService = new Map<string, number | null>();
    for (const ck of tenants) {
      const s = await service.verificationStatus(ck);
      if (s.status === 'failed') byService.set(ck, s.firstBadSeq);
    }
    // The combinations cover both outcomes: failing by the full record, by the incremental one, and cleared.
    expect(byService.size).toBeGreaterThan(10);
    expect(byService.size).toBeLessThan(tenants.length - 10);

    const metric = await createMetrics({ db: tdb.db }).registry.getSingleMetricAsString('attest_verification_failed_tenants');
    expect(metric).toMatch(new RegExp(`^attest_verification_failed_tenants ${byService.size}$`, 'm'));

    const listed = await tenantCheckpointLags(tdb.db, new Date(), 900);
    expect(new Map(listed.map((t) => [t.clientKey, t.failedCheck?.firstBadSeq ?? null]))).toEqual(byService);
  });
});
