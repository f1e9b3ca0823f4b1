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

  /** Locks the head row until the transaction ends: the one place appends for a tenant queue. */
  async lockHead(clientKey: string): Promise<AuditHead> {
    const row = await this.db(HEADS).where({ client_key: clientKey }).forUpdate().first('seq', 'chain_hash');
    if (!row) throw new Error(`audit head for ${clientKey} vanished while appending`);
    return { seq: Number(row.seq), chainHash: row.chain_hash };
  }

  /**
   * The database clock formatted as an event time, never before the tenant's last event. Call it
   * with the head locked: then times follow seq order whichever service instance appends.
   */
  async nextAt(clientKey: string): Promise<string> {
    const { rows } = await this.db.raw(
      `select to_char(greatest(clock_timestamp(), h.updated_at) at time zone 'UTC', ?) as at
         from (select (select updated_at from ${HEADS} where client_key = ? and seq > 0) as updated_at) h`,
      [PG_AT_FORMAT, clientKey],
    );
    return rows[0].at;
  }

  async insertEvent(clientKey: string, e: ChainRow): Promise<void> {
    await this.db(EVENTS).insert({
      client_key: clientKey,
      seq: e.seq,
      recorded_at: e.recordedAt,
      action: e.action,
      space_key: e.spaceKey,
      page_id: e.pageId,
      workflow_id: e.workflowId,
      actor_ref: e.actorRef,
      canonical: e.canonical,
      leaf_hash: e.leafHash,
      chain_hash: e.chainHash,
    });
  }

  /** Moves the head to the event just inserted; `at` becomes the floor for the next event's time. */
  async advanceHead(clientKey: string, seq: number, chainHash: Buffer, at: string): Promise<void> {
    const n = await this.db(HEADS)
      .where({ client_key: clientKey, seq: seq - 1 })
      .update({ seq, chain_hash: chainHash, updated_at: at });
    if (n !== 1) throw new Error(`audit head for ${clientKey} is not at seq ${seq - 1}`);
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
