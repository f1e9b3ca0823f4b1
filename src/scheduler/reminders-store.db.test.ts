import { randomUUID } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { RemindersStore } from './reminders-store';

/** The reminder log's claims for a tenant with more reminders due at once than one statement can bind. */
describe('RemindersStore with ten thousand reminders due at once', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(() => tdb.drop());

  it('claims them all, ids in order, marks some sent and releases the rest', async () => {
    const store = new RemindersStore(tdb.db);
    const sentAt = new Date('2026-12-04T09:00:00.000Z');
    const due = Array.from({ length: 10_000 }, (_, i) => ({ workflowId: randomUUID(), round: 1 + (i % 3), accountIds: [`acc-${i}`], groups: [], sentAt }));
    const ids = await store.claimAll('big-tenant', due);
    expect(ids).toHaveLength(10_000);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const rows = await tdb.db('reminders').where({ client_key: 'big-tenant' }).orderBy('id').select('id', 'workflow_id', 'status');
    expect(rows.map((r) => r.workflow_id)).toEqual(due.map((r) => r.workflowId));
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['sending']));
    await store.markSentAll('big-tenant', ids.slice(0, 10).map((id) => ({ id, commentId: `c-${id}` })));
    await store.releaseAll('big-tenant', ids.slice(10));
    expect(await tdb.db('reminders').where({ client_key: 'big-tenant' }).pluck('status')).toEqual(Array(10).fill('sent'));
  });
});
