import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import type { ApprovalsTx } from '../approvals/approvals-ports';
import { withTransactional } from '../db/transactional';
import type { PageEventsInbox, PageEventsInboxTx, PageEventsStores } from './page-events-ports';
import type { ContentType } from '../confluence/confluence-client';

const TABLE = 'page_events';

/**
 * The content webhooks Attest subscribes to (the descriptor, the webhook router and the devhost derive
 * from this list): pages and blog posts have their own events with the same meaning.
 */
export const PAGE_EVENTS = [
  'page_updated',
  'page_trashed',
  'page_restored',
  'page_removed',
  'page_moved',
  'blog_updated',
  'blog_trashed',
  'blog_restored',
  'blog_removed',
] as const;
export type PageEventName = (typeof PAGE_EVENTS)[number];

/** A new version of the content. */
export const isUpdateEvent = (e: PageEventName): boolean => e.endsWith('_updated');
/** Trash, restore or remove: the events whose order decides whether workflows are archived. */
export const STATUS_EVENTS = PAGE_EVENTS.filter((e) => /_(trashed|restored|removed)$/.test(e));
/** The page went to another space (or elsewhere in its own): its workflows follow it. */
export const isMoveEvent = (e: PageEventName): boolean => e === 'page_moved';
export const contentTypeOfEvent = (e: PageEventName): ContentType => (e.startsWith('blog_') ? 'blogpost' : 'page');

export interface PageEvent {
  id: number;
  clientKey: string;
  dedupeKey: string;
  event: PageEventName;
  pageId: string;
  pageVersion: number | null;
  eventAt: Date;
  payload: Record<string, unknown>;
  receivedAt: Date;
  processedAt: Date | null;
  attempts: number;
  outcome: string | null;
  lastError: string | null;
}

export type NewPageEvent = Pick<PageEvent, 'dedupeKey' | 'event' | 'pageId' | 'pageVersion' | 'eventAt' | 'payload'>;

interface PageEventRow {
  client_key: string;
  id: number;
  dedupe_key: string;
  event: PageEventName;
  page_id: string;
  page_version: number | null;
  event_at: Date;
  payload: Record<string, unknown>;
  received_at: Date;
  processed_at: Date | null;
  attempts: number;
  outcome: string | null;
  last_error: string | null;
}

function toPageEvent(r: PageEventRow): PageEvent {
  return {
    id: Number(r.id),
    clientKey: r.client_key,
    dedupeKey: r.dedupe_key,
    event: r.event,
    pageId: r.page_id,
    pageVersion: r.page_version,
    eventAt: r.event_at,
    payload: r.payload,
    receivedAt: r.received_at,
    processedAt: r.processed_at,
    attempts: r.attempts,
    outcome: r.outcome,
    lastError: r.last_error,
  };
}

/** The webhook inbox: every delivery is stored here before anything acts on it. */
export class PageEventsStore implements PageEventsInbox, PersonalDataHolder {
  constructor(private readonly db: Knex) {}

  /** Stores a delivery; null when the same delivery (dedupe key) was stored before. */
  async insert(clientKey: string, e: NewPageEvent, receivedAt: Date): Promise<PageEvent | null> {
    const rows = await this.db<PageEventRow>(TABLE)
      .insert({
        client_key: clientKey,
        dedupe_key: e.dedupeKey,
        event: e.event,
        page_id: e.pageId,
        page_version: e.pageVersion,
        event_at: e.eventAt,
        payload: e.payload,
        received_at: receivedAt,
      } as never)
      .onConflict(['client_key', 'dedupe_key'])
      .ignore()
      .returning('*');
    return rows.length ? toPageEvent(rows[0] as PageEventRow) : null;
  }

  /** Serialises the handling of one page's events until the transaction ends. */
  async lockPage(clientKey: string, pageId: string, trx: Knex.Transaction): Promise<void> {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`attest:page:${clientKey}:${pageId}`]);
  }

  /** A processed trash/restore/remove of the page that Confluence sent after `eventAt`. */
  async newerStatusEvent(clientKey: string, pageId: string, eventAt: Date, trx: Knex.Transaction): Promise<PageEvent | null> {
    const row = await trx<PageEventRow>(TABLE)
      .where({ client_key: clientKey, page_id: pageId })
      .whereIn('event', STATUS_EVENTS)
      .whereNotNull('processed_at')
      .andWhere('event_at', '>', eventAt)
      .orderBy('event_at', 'desc')
      .first();
    return row ? toPageEvent(row) : null;
  }

  async markProcessed(clientKey: string, id: number, outcome: string, at: Date, trx?: Knex.Transaction): Promise<void> {
    await (trx ?? this.db)(TABLE)
      .where({ client_key: clientKey, id })
      .update({ processed_at: at, outcome, last_error: null, attempts: this.db.raw('attempts + 1') });
  }

  async markFailed(clientKey: string, id: number, error: string): Promise<void> {
    await this.db(TABLE)
      .where({ client_key: clientKey, id })
      .whereNull('processed_at')
      .update({ last_error: error.slice(0, 1000), attempts: this.db.raw('attempts + 1') });
  }

  /** See PageEventsInbox.unprocessed: due deliveries, backing off exponentially by their age and attempts. */
  async unprocessed(clientKey: string, now: Date, retry: { firstAfterMs: number; maxAttempts: number; limit: number }): Promise<PageEvent[]> {
    const rows = await this.db<PageEventRow>(TABLE)
      .where({ client_key: clientKey })
      .whereNull('processed_at')
      .andWhere('received_at', '<', new Date(now.getTime() - retry.firstAfterMs))
      .andWhereRaw('received_at <= ?::timestamptz - make_interval(secs => ?::float8 * power(2, least(attempts, 30)))', [now, retry.firstAfterMs / 1000])
      .andWhere('attempts', '<', retry.maxAttempts)
      .orderBy([{ column: 'event_at' }, { column: 'id' }])
      .limit(retry.limit);
    return rows.map(toPageEvent);
  }

  /**
   * The people stored webhook payloads name (`userAccountId`, and the content's `…AccountId` fields: creator, last
   * modifier): stored here, so reported like any other, and a closed account's are replaced by `eraseAccount`. Someone
   * named nowhere else (an editor who never decided) would otherwise be kept for good (CONNECT.md, reporting).
   */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const { rows } = await this.db.raw(
      `select x.value as account_id, max(e.received_at) as at
         from ${TABLE} e
        cross join lateral (
              select key, value from jsonb_each_text(e.payload)
              union all
              select key, value from jsonb_each_text(case when jsonb_typeof(e.payload->'page') = 'object' then e.payload->'page' else '{}'::jsonb end)
              union all
              select key, value from jsonb_each_text(case when jsonb_typeof(e.payload->'blog') = 'object' then e.payload->'blog' else '{}'::jsonb end)) x
        where e.client_key = ? and jsonb_typeof(e.payload) = 'object' and x.key ~ 'AccountId$' and x.value <> ''
        group by x.value`,
      [clientKey],
    );
    return rows.map((r: { account_id: string; at: Date }) => ({ accountId: r.account_id, at: r.at }));
  }

  async eraseAccount(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    return trx(TABLE)
      .where({ client_key: clientKey })
      .whereRaw('strpos(payload::text, ?) > 0', [accountId])
      .update({ payload: trx.raw('replace(payload::text, ?, ?)::jsonb', [accountId, marker]) });
  }

}

/** The inbox's methods that take part in a transaction, bound to `trx`. */
export function inboxIn(store: PageEventsStore, trx: Knex.Transaction): PageEventsInboxTx {
  return {
    lockPage: (ck, pageId) => store.lockPage(ck, pageId, trx),
    newerStatusEvent: (ck, pageId, eventAt) => store.newerStatusEvent(ck, pageId, eventAt, trx),
    markProcessed: (ck, id, outcome, at) => store.markProcessed(ck, id, outcome, at, trx),
  };
}

/** The page-event service's stores: the inbox on the pool, and transactions with the inbox and the approvals stores bound to them. */
export function pageEventsStores(db: Knex, deps: { store: PageEventsStore; approvalsIn: (trx: Knex.Transaction) => ApprovalsTx }): PageEventsStores {
  return { inbox: deps.store, transaction: withTransactional(db, (trx) => ({ inbox: inboxIn(deps.store, trx), approvals: deps.approvalsIn(trx) })).transaction };
}
