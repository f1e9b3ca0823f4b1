import type { Knex } from 'knex';
import { ChainRow, PG_AT_FORMAT } from './audit-format';

const EVENTS = 'audit_events';
const HEADS = 'audit_heads';
const SUBJECTS = 'audit_subjects';

export interface AuditHead {
  seq: number;
  /** Null before the first event. */
  chainHash: Buffer | null;
}

export interface NewSubject {
  accountId: string;
  salt: Buffer;
  ref: string;
}

interface EventDbRow {
  seq: string;
  recorded_at: string;
  action: string;
  space_key: string | null;
  page_id: string | null;
  workflow_id: string | null;
  actor_ref: string | null;
  canonical: string;
  leaf_hash: Buffer;
  chain_hash: Buffer;
}

function toChainRow(r: EventDbRow): ChainRow {
  return {
    seq: Number(r.seq),
    recordedAt: r.recorded_at,
    action: r.action,
    spaceKey: r.space_key,
    pageId: r.page_id,
    workflowId: r.workflow_id,
    actorRef: r.actor_ref,
    canonical: r.canonical,
    leafHash: r.leaf_hash,
    chainHash: r.chain_hash,
  };
}

/**
 * All SQL of the audit chain. A store is bound to one connection: the pool, or (through `on`) the
 * transaction of the change an event records.
 */
export class AuditStore {
  constructor(private readonly db: Knex) {}

  /** The same store working inside `conn` (usually the caller's transaction). */
  on(conn: Knex): AuditStore {
    return conn === this.db ? this : new AuditStore(conn);
  }

  /** Creates the tenant's head row at seq 0 unless it exists (concurrent callers are fine). */
  async ensureHead(clientKey: string): Promise<void> {
    await this.db(HEADS).insert({ client_key: clientKey, seq: 0 }).onConflict('client_key').ignore();
  }

  /**
   * Locks the head row and reads the event time in one round trip (the head lock is the queue of
   * a tenant's appends, so every query while holding it counts). Null when the tenant has no head yet.
   */
  async lockHeadAt(clientKey: string): Promise<(AuditHead & { at: string }) | null> {
    const { rows } = await this.db.raw(
      `select seq, chain_hash,
              to_char(greatest(clock_timestamp(), case when seq > 0 then updated_at end) at time zone 'UTC', ?) as at
         from ${HEADS} where client_key = ? for update`,
      [PG_AT_FORMAT, clientKey],
    );
    if (!rows.length) return null;
    return { seq: Number(rows[0].seq), chainHash: rows[0].chain_hash, at: rows[0].at };
  }

  /** Inserts the event and moves the head to it in one statement; fails unless the head was at seq - 1. */
  async insertEventAndAdvance(clientKey: string, e: ChainRow): Promise<void> {
    const { rows } = await this.db.raw(
      `with ins as (
         insert into ${EVENTS} (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning seq)
       update ${HEADS} set seq = (select seq from ins), chain_hash = ?, updated_at = ?
        where client_key = ? and seq = ? returning seq`,
      [
        clientKey, e.seq, e.recordedAt, e.action, e.spaceKey, e.pageId, e.workflowId, e.actorRef, e.canonical, e.leafHash, e.chainHash,
        e.chainHash, e.recordedAt, clientKey, e.seq - 1,
      ],
    );
    if (rows.length !== 1) throw new Error(`audit head for ${clientKey} is not at seq ${e.seq - 1}`);
  }

  async head(clientKey: string): Promise<AuditHead | null> {
    const row = await this.db(HEADS).where({ client_key: clientKey }).first('seq', 'chain_hash');
    return row ? { seq: Number(row.seq), chainHash: row.chain_hash } : null;
  }

  async chainHashAt(clientKey: string, seq: number): Promise<Buffer | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey, seq }).first('chain_hash');
    return row ? row.chain_hash : null;
  }

  /** accountId → ref for the subjects that exist. */
  async findSubjectRefs(clientKey: string, accountIds: string[]): Promise<Map<string, string>> {
    if (!accountIds.length) return new Map();
    const rows: Array<{ account_id: string; ref: string }> = await this.db(SUBJECTS)
      .where({ client_key: clientKey })
      .whereIn('account_id', accountIds)
      .select('account_id', 'ref');
    return new Map(rows.map((r) => [r.account_id, r.ref]));
  }

  /** Inserts subjects; one that a concurrent transaction created first is left as it is. */
  async insertSubjects(clientKey: string, subjects: NewSubject[]): Promise<void> {
    if (!subjects.length) return;
    await this.db(SUBJECTS)
      .insert(subjects.map((s) => ({ client_key: clientKey, account_id: s.accountId, salt: s.salt, ref: s.ref })))
      .onConflict(['client_key', 'account_id'])
      .ignore();
  }

  /**
   * Events in seq order from `fromSeq` to `toSeq` (inclusive), `batchSize` at a time, so that memory
   * stays flat however long the chain is. Each query asks for a bounded seq range, which the primary
   * key answers directly whatever the planner's statistics say; a short range (a gap, or the end)
   * is followed by one probe for the next seq.
   */
  async *events(
    clientKey: string,
    opts: { fromSeq?: number; toSeq?: number; batchSize?: number } = {},
  ): AsyncGenerator<ChainRow> {
    const batchSize = opts.batchSize ?? 1000;
    const last = opts.toSeq ?? Number.MAX_SAFE_INTEGER;
    let after = (opts.fromSeq ?? 1) - 1;
    while (after < last) {
      const upper = Math.min(after + batchSize, last);
      const batch = await this.db(EVENTS)
        .where({ client_key: clientKey })
        .andWhere('seq', '>', after)
        .andWhere('seq', '<=', upper)
        .orderBy('seq')
        .select<EventDbRow[]>(
          'seq',
          this.db.raw(`to_char(recorded_at at time zone 'UTC', ?) as recorded_at`, [PG_AT_FORMAT]),
          'action',
          'space_key',
          'page_id',
          'workflow_id',
          'actor_ref',
          'canonical',
          'leaf_hash',
          'chain_hash',
        );
      for (const r of batch) yield toChainRow(r);
      if (batch.length === upper - after) {
        after = upper;
        continue;
      }
      const next = await this.db(EVENTS)
        .where({ client_key: clientKey })
        .andWhere('seq', '>', upper)
        .andWhere('seq', '<=', last)
        .min<{ next: number | string | null }>('seq as next')
        .first();
      if (next?.next === null || next?.next === undefined) return;
      after = Number(next.next) - 1;
    }
  }
}
