import type { NewPageEvent, PageEvent } from '../../src/webhooks/page-events-store';
import { STATUS_EVENTS } from '../../src/webhooks/page-events-store';
import type { PageEventsInbox, PageEventsStores, PageEventsTx } from '../../src/webhooks/page-events-ports';
import type { FakeApprovalsStores } from './fake-approvals-stores';

/**
 * The page-event inbox in memory, deduplicated by the delivery's key like the table's unique index; its
 * transactions share the approvals fake's, so an archive and its inbox mark commit (or roll back) together.
 */
export class FakePageEventsStores implements PageEventsStores {
  rows: PageEvent[] = [];
  private nextId = 1;

  readonly inbox: PageEventsInbox = {
    insert: async (clientKey: string, e: NewPageEvent, receivedAt: Date) => {
      if (this.rows.some((r) => r.clientKey === clientKey && r.dedupeKey === e.dedupeKey)) return null;
      const row: PageEvent = { ...e, id: this.nextId++, clientKey, receivedAt, processedAt: null, attempts: 0, outcome: null, lastError: null };
      this.rows.push(row);
      return { ...row };
    },
    markProcessed: async (ck, id, outcome, at) => this.markProcessed(this.rows, ck, id, outcome, at),
    markFailed: async (ck, id, error) => {
      const row = this.rows.find((r) => r.clientKey === ck && r.id === id && r.processedAt === null);
      if (row) Object.assign(row, { lastError: error, attempts: row.attempts + 1 });
    },
    unprocessed: async (ck, now, { firstAfterMs, maxAttempts, limit }) =>
      this.rows
        .filter((r) => r.clientKey === ck && r.processedAt === null && r.attempts < maxAttempts)
        .filter((r) => now.getTime() - r.receivedAt.getTime() > firstAfterMs && now.getTime() - r.receivedAt.getTime() >= firstAfterMs * 2 ** Math.min(r.attempts, 30))
        .sort((a, b) => a.eventAt.getTime() - b.eventAt.getTime() || a.id - b.id)
        .slice(0, limit)
        .map((r) => ({ ...r })),
  };

  constructor(private readonly approvals: FakeApprovalsStores) {}

  async transaction<T>(work: (tx: PageEventsTx) => Promise<T>): Promise<T> {
    const working = this.rows.map((r) => ({ ...r }));
    const result = await this.approvals.transaction((approvals) =>
      work({
        approvals,
        inbox: {
          lockPage: async () => undefined,
          newerStatusEvent: async (ck, pageId, eventAt) =>
            working
              .filter((r) => r.clientKey === ck && r.pageId === pageId && STATUS_EVENTS.includes(r.event) && r.processedAt !== null && r.eventAt > eventAt)
              .sort((a, b) => b.eventAt.getTime() - a.eventAt.getTime())[0] ?? null,
          markProcessed: async (ck, id, outcome, at) => this.markProcessed(working, ck, id, outcome, at),
        },
      }),
    );
    this.rows = working;
    return result;
  }

  private markProcessed(rows: PageEvent[], ck: string, id: number, outcome: string, at: Date): void {
    const row = rows.find((r) => r.clientKey === ck && r.id === id)!;
    Object.assign(row, { processedAt: at, outcome, lastError: null, attempts: row.attempts + 1 });
  }
}
