import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import type { AuditTx } from '../audit/audit-tx';
import { withTransactional } from '../db/transactional';
import type { Transactional } from '../lib/transactional';
import { OPEN_STATES } from '../approvals/approval-rules';
import { toWorkflow, WorkflowRow } from '../approvals/workflow-rows';
import type { Workflow } from '../approvals/approvals-types';
import type { CalendarEventKind } from './calendar-ics';

const FEEDS = 'calendar_feeds';
const REVISIONS = 'calendar_event_revisions';
const WORKFLOWS = 'workflows';

interface CalendarFeedRow {
  client_key: string;
  space_key: string;
  feed_id: string;
  secret_sha256: Buffer;
  show_titles: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface CalendarFeed {
  clientKey: string;
  spaceKey: string;
  feedId: string;
  /** SHA-256 of the URL's secret; the secret itself is never stored. */
  secretSha256: Buffer;
  showTitles: boolean;
  createdAt: Date;
  updatedAt: Date;
}

function toFeed(r: CalendarFeedRow): CalendarFeed {
  return {
    clientKey: r.client_key,
    spaceKey: r.space_key,
    feedId: r.feed_id,
    secretSha256: r.secret_sha256,
    showTitles: r.show_titles,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** One dated event a feed shows, before its revision is known. */
export interface CalendarDate {
  workflowId: string;
  kind: CalendarEventKind;
  /** YYYY-MM-DD (UTC). */
  date: string;
}

export interface CalendarRevision extends CalendarDate {
  sequence: number;
  revisedAt: Date;
}

export class CalendarStore {
  constructor(private readonly db: Knex) {}

  async find(clientKey: string, spaceKey: string, trx?: Knex.Transaction): Promise<CalendarFeed | null> {
    const row = await (trx ?? this.db)<CalendarFeedRow>(FEEDS).where({ client_key: clientKey, space_key: spaceKey }).first();
    return row ? toFeed(row) : null;
  }

  /**
   * The feed a calendar client asks for, by the public half of its URL. The one query that names no
   * client_key: the request carries no JWT, and the feed row is what says whose it is.
   */
  async findByFeedId(feedId: string): Promise<CalendarFeed | null> {
    const row = await this.db<CalendarFeedRow>(FEEDS).where({ feed_id: feedId }).first();
    return row ? toFeed(row) : null;
  }

  /**
   * Locks the space's feed until `trx` ends, whether it has one yet or not (a transaction-scoped advisory
   * lock on the space, as there may be no row to lock): two admins creating or rotating at once queue, and
   * the second sees the first's feed, so its URL replaces it as a rotation.
   */
  async lock(clientKey: string, spaceKey: string, trx: Knex.Transaction): Promise<CalendarFeed | null> {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`${FEEDS}\n${clientKey}\n${spaceKey}`]);
    const row = await trx<CalendarFeedRow>(FEEDS).where({ client_key: clientKey, space_key: spaceKey }).forUpdate().first();
    return row ? toFeed(row) : null;
  }

  /** Creates the space's feed or replaces its URL (a new id and secret: the old URL stops working). */
  async put(clientKey: string, spaceKey: string, feed: { feedId: string; secretSha256: Buffer; showTitles: boolean }, trx: Knex.Transaction): Promise<CalendarFeed> {
    const [row] = await trx<CalendarFeedRow>(FEEDS)
      .insert({ client_key: clientKey, space_key: spaceKey, feed_id: feed.feedId, secret_sha256: feed.secretSha256, show_titles: feed.showTitles })
      .onConflict(['client_key', 'space_key'])
      .merge({ feed_id: feed.feedId, secret_sha256: feed.secretSha256, show_titles: feed.showTitles, created_at: trx.fn.now() as unknown as Date, updated_at: trx.fn.now() as unknown as Date })
      .returning('*');
    return toFeed(row as CalendarFeedRow);
  }

  async setShowTitles(clientKey: string, spaceKey: string, showTitles: boolean, trx: Knex.Transaction): Promise<CalendarFeed> {
    const [row] = await trx<CalendarFeedRow>(FEEDS)
      .where({ client_key: clientKey, space_key: spaceKey })
      .update({ show_titles: showTitles, updated_at: trx.fn.now() as unknown as Date })
      .returning('*');
    return toFeed(row as CalendarFeedRow);
  }

  async remove(clientKey: string, spaceKey: string, trx: Knex.Transaction): Promise<boolean> {
    return (await trx(FEEDS).where({ client_key: clientKey, space_key: spaceKey }).delete()) > 0;
  }

  /**
   * The space's workflows that have a date to show: open ones with a due date, and those with a review
   * (recertification) date. Archived ones show nothing. At most `limit`, earliest first, none before `from`.
   */
  async datedWorkflows(clientKey: string, spaceKey: string, from: string, limit: number): Promise<Workflow[]> {
    const rows = await this.db<WorkflowRow>(WORKFLOWS)
      .select('*')
      .where({ client_key: clientKey, space_key: spaceKey })
      .whereNot('state', 'archived')
      .where((w) =>
        w
          .where((d) => d.whereIn('state', [...OPEN_STATES]).whereNotNull('due_date').where('due_date', '>=', from))
          .orWhere((r) => r.whereNotNull('expires_at').whereRaw(`(expires_at AT TIME ZONE 'UTC')::date >= ?::date`, [from])),
      )
      .orderByRaw(`least(due_date, (expires_at AT TIME ZONE 'UTC')::date), id`)
      .limit(limit);
    return (rows as WorkflowRow[]).map(toWorkflow);
  }

  /**
   * Records the date each event shows now and answers each event's revision: a new event starts at
   * SEQUENCE 0; a moved date raises it by one and stamps the time (one statement, so two feeds read at
   * once cannot raise it twice for one move). DTSTAMP has whole seconds: a revision is stamped at least a second
   * after the one before, so two moves within a second still read as newer.
   */
  async revise(clientKey: string, dates: CalendarDate[]): Promise<CalendarRevision[]> {
    if (!dates.length) return [];
    const rows = dates.map((d) => ({ client_key: clientKey, workflow_id: d.workflowId, kind: d.kind, date: d.date }));
    await this.db.raw(
      `INSERT INTO ${REVISIONS} (client_key, workflow_id, kind, date)
       SELECT client_key, workflow_id, kind, date FROM jsonb_to_recordset(?::jsonb) AS x(client_key text, workflow_id uuid, kind text, date date)
       ON CONFLICT (client_key, workflow_id, kind) DO UPDATE
         SET date = EXCLUDED.date, sequence = ${REVISIONS}.sequence + 1,
             revised_at = greatest(now(), date_trunc('second', ${REVISIONS}.revised_at) + interval '1 second')
         WHERE ${REVISIONS}.date IS DISTINCT FROM EXCLUDED.date`,
      [JSON.stringify(rows)],
    );
    const found = await this.db(REVISIONS)
      .select('workflow_id', 'kind', this.db.raw(`to_char(date, 'YYYY-MM-DD') AS date`), 'sequence', 'revised_at')
      .where({ client_key: clientKey })
      .whereIn('workflow_id', [...new Set(dates.map((d) => d.workflowId))]);
    return found.map((r: { workflow_id: string; kind: CalendarEventKind; date: string; sequence: number; revised_at: Date }) => ({
      workflowId: r.workflow_id,
      kind: r.kind,
      date: r.date,
      sequence: r.sequence,
      revisedAt: r.revised_at,
    }));
  }
}

/** A space's feed inside one transaction: locked until it ends, written with it. */
export interface CalendarFeedWrites {
  /** Locks the space's feed (whether it has one yet or not) and returns it. */
  lock(clientKey: string, spaceKey: string): Promise<CalendarFeed | null>;
  put(clientKey: string, spaceKey: string, feed: { feedId: string; secretSha256: Buffer; showTitles: boolean }): Promise<CalendarFeed>;
  setShowTitles(clientKey: string, spaceKey: string, showTitles: boolean): Promise<CalendarFeed>;
  remove(clientKey: string, spaceKey: string): Promise<boolean>;
}

/** What a change to a space's feed writes in one transaction: the feed and the audit chain. */
export interface CalendarTx {
  feeds: CalendarFeedWrites;
  audit: AuditTx;
}

/** Reads of feeds and dated workflows outside any transaction. */
export type CalendarReads = Pick<CalendarStore, 'find' | 'findByFeedId' | 'datedWorkflows' | 'revise'>;

export interface CalendarStores extends Transactional<CalendarTx> {
  calendar: CalendarReads;
}

/** The calendar service's stores: reads on the pool, and feed changes with the audit chain bound to one transaction. */
export function calendarStores(db: Knex, deps: { store: CalendarStore; audit: AuditLog }): CalendarStores {
  const { store } = deps;
  const tx = withTransactional(db, (trx) => ({
    feeds: {
      lock: (ck: string, spaceKey: string) => store.lock(ck, spaceKey, trx),
      put: (ck: string, spaceKey: string, feed: { feedId: string; secretSha256: Buffer; showTitles: boolean }) => store.put(ck, spaceKey, feed, trx),
      setShowTitles: (ck: string, spaceKey: string, showTitles: boolean) => store.setShowTitles(ck, spaceKey, showTitles, trx),
      remove: (ck: string, spaceKey: string) => store.remove(ck, spaceKey, trx),
    },
    audit: deps.audit.in(trx),
  }));
  return { calendar: store, transaction: tx.transaction };
}
