import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import { MAX_ATTEMPTS, RETRY_AFTER_MS } from './page-events-service';
import { PageEventsStore } from './page-events-store';

const MINUTE = 60_000;

/** The retry job's choice of deliveries: each failed attempt doubles how old a delivery must be to be tried again. */
describe('page event retries back off', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(() => tdb.drop());

  it('retries a delivery at 1, 2, 4 … minutes of age, through an outage of hours, until its last attempt', async () => {
    const store = new PageEventsStore(tdb.db);
    const received = new Date('2026-12-04T10:00:00.000Z');
    const ev = await store.insert('retry-tenant', { dedupeKey: 'd-1', event: 'page_updated', pageId: '42', pageVersion: 3, eventAt: received, payload: {} }, received);
    const due = async (minutes: number) =>
      (await store.unprocessed('retry-tenant', new Date(received.getTime() + minutes * MINUTE), { firstAfterMs: RETRY_AFTER_MS, maxAttempts: MAX_ATTEMPTS, limit: 10 })).length === 1;
    const failed = () => store.markFailed('retry-tenant', ev!.id, 'Confluence answered 503');
    expect(await due(0.5)).toBe(false);
    expect(await due(1.01)).toBe(true);
    await failed();
    expect(await due(1.5)).toBe(false);
    expect(await due(2)).toBe(true);
    for (let k = 1; k < 10; k++) await failed();
    // Ten attempts failed (what used to be the last, ten minutes in): the eleventh comes at 2^10 minutes, ~17 hours.
    expect(await due(17 * 60)).toBe(false);
    expect(await due(1024)).toBe(true);
    for (let k = 10; k < MAX_ATTEMPTS; k++) await failed();
    expect(await due(365 * 24 * 60)).toBe(false);
  });
});
