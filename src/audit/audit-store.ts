import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import { Statement, statementOf, valuesList } from '../db/pipeline';
import { ChainRow, PG_AT_FORMAT } from './audit-format';

const EVENTS = 'audit_events';
const HEADS = 'audit_heads';
const SUBJECTS = 'audit_subjects';
const ADOPTIONS = 'audit_mac_adoptions';

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

/** The head as `lockHead` reads it: with the time of the last event. */
export type LockedHead = AuditHead & { lastAtMicros: bigint | null };

function lockedHead(rows: Array<Record<string, unknown>>): LockedHead | null {
  if (!rows.length) return null;
  const last = rows[0].last_at_us as string | number | null;
  return { seq: Number(rows[0].seq), chainHash: rows[0].chain_hash as Buffer | null, lastAtMicros: last === null ? null : BigInt(last) };
}

function refsOf(rows: Array<Record<string, unknown>>): Map<string, string> {
  return new Map(rows.map((r) => [r.account_id as string, r.ref as string]));
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
export class AuditStore implements PersonalDataHolder {
  constructor(private readonly db: Knex) {}

  /** The same store working inside `conn` (usually the caller's transaction). */
  on(conn: Knex): AuditStore {
    return conn === this.db ? this : new AuditStore(conn);
  }

  /** Creates the tenant's head row at seq 0 unless it exists (concurrent callers are fine). */
  async ensureHead(clientKey: string): Promise<void> {
    await this.ensureHeadQuery(clientKey);
  }

  /** `ensureHead` as a statement, for a pipeline. */
  ensureHeadStatement(clientKey: string): Statement<void> {
    return statementOf(this.ensureHeadQuery(clientKey), () => undefined);
  }

  private ensureHeadQuery(clientKey: string) {
    return this.db(HEADS).insert({ client_key: clientKey, seq: 0 }).onConflict('client_key').ignore();
  }

  /**
   * Locks the head row and reads the time of the last event (microseconds since the epoch, null before
   * the first) in one round trip: the head lock is the queue of a tenant's appends, so every query while
   * holding it counts. The event's own time comes from the app's clock, never from a database function
   * a superuser could shadow. Null when the tenant has no head yet.
   */
  async lockHead(clientKey: string): Promise<LockedHead | null> {
    return lockedHead((await this.lockHeadQuery(clientKey)).rows);
  }

  /** `lockHead` as a statement, for a pipeline (src/db/pipeline.ts). */
  lockHeadStatement(clientKey: string): Statement<LockedHead | null> {
    return { ...statementOf(this.lockHeadQuery(clientKey), lockedHead), prepared: true };
  }

  private lockHeadQuery(clientKey: string): Knex.Raw {
    return this.db.raw(
      `select seq, chain_hash, case when seq > 0 then (extract(epoch from updated_at) * 1000000)::bigint end as last_at_us
         from ${HEADS} where client_key = ? for update`,
      [clientKey],
    );
  }

  /** Inserts the event and moves the head to it in one statement; fails unless the head was at seq - 1. */
  async insertEventAndAdvance(clientKey: string, e: ChainRow & { mac: Buffer }): Promise<void> {
    const { rows } = await this.db.raw(
      `with ins as (
         insert into ${EVENTS} (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash, mac)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning seq)
       update ${HEADS} set seq = (select seq from ins), chain_hash = ?, updated_at = ?
        where client_key = ? and seq = ? returning seq`,
      [
        clientKey, e.seq, e.recordedAt, e.action, e.spaceKey, e.pageId, e.workflowId, e.actorRef, e.canonical, e.leafHash, e.chainHash, e.mac,
        e.chainHash, e.recordedAt, clientKey, e.seq - 1,
      ],
    );
    if (rows.length !== 1) throw new Error(`audit head for ${clientKey} is not at seq ${e.seq - 1}`);
  }

  /**
   * Inserts the events after seq `prevSeq` (whose chain hash is `prevChain`), moves the head to the last of
   * them, in one statement (`audit_append_events`, which re-checks the head, the links and the leaves and
   * raises instead of writing anything else): for a pipeline that ends with the commit, in the transaction
   * that locked the head.
   */
  appendEventsStatement(clientKey: string, prevSeq: number, prevChain: Buffer | null, events: Array<ChainRow & { mac: Buffer }>): Statement<void> {
    return {
      text: `select audit_append_events($1, $2, $3, $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[], $13::bytea[]) as seq`,
      values: [
        clientKey, prevSeq, prevChain,
        events.map((e) => e.recordedAt), events.map((e) => e.action), events.map((e) => e.spaceKey), events.map((e) => e.pageId),
        events.map((e) => e.workflowId), events.map((e) => e.actorRef), events.map((e) => e.canonical),
        events.map((e) => e.leafHash), events.map((e) => e.chainHash), events.map((e) => e.mac),
      ],
      read: () => undefined,
      prepared: true,
    };
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
    return refsOf(await this.subjectRefsQuery(clientKey, accountIds));
  }

  /**
   * `findSubjectRefs` as a statement (at least one accountId). This and `insertSubjectsStatement` go with every
   * batch of decisions: written with their parameters here, not compiled by knex's builder each time (issue 15).
   */
  findSubjectRefsStatement(clientKey: string, accountIds: string[]): Statement<Map<string, string>> {
    return { text: `SELECT account_id, ref FROM ${SUBJECTS} WHERE client_key = $1 AND account_id = any($2::text[])`, values: [clientKey, accountIds], read: refsOf, prepared: true };
  }

  private subjectRefsQuery(clientKey: string, accountIds: string[]) {
    return this.db(SUBJECTS).where({ client_key: clientKey }).whereIn('account_id', accountIds).select('account_id', 'ref');
  }

  /** Inserts subjects; one that a concurrent transaction created first is left as it is. */
  async insertSubjects(clientKey: string, subjects: NewSubject[]): Promise<void> {
    if (!subjects.length) return;
    await this.insertSubjectsQuery(clientKey, subjects);
  }

  /** `insertSubjects` as a statement (at least one subject); reads the accountIds it created (not those that were there). */
  insertSubjectsStatement(clientKey: string, subjects: NewSubject[]): Statement<string[]> {
    const rows = valuesList(subjects.map((s) => [s.accountId, s.salt, s.ref]), 2, '$1');
    return {
      text: `INSERT INTO ${SUBJECTS} (client_key, account_id, salt, ref) VALUES ${rows.sql} ON CONFLICT (client_key, account_id) DO NOTHING RETURNING account_id`,
      values: [clientKey, ...rows.values],
      read: (found) => found.map((r) => String(r.account_id)),
    };
  }

  /** Deletes these people's subjects (at least one accountId): for those a transaction created and then named in no event. */
  deleteSubjectsStatement(clientKey: string, accountIds: string[]): Statement<void> {
    return { text: `DELETE FROM ${SUBJECTS} WHERE client_key = $1 AND account_id = any($2::text[])`, values: [clientKey, accountIds], read: () => undefined };
  }

  private insertSubjectsQuery(clientKey: string, subjects: NewSubject[]) {
    return this.db(SUBJECTS)
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

  /** Each event's leaf hash and MAC in seq order (for the MAC check), in batches. */
  async *macs(clientKey: string, opts: { fromSeq: number; toSeq: number; batchSize?: number }): AsyncGenerator<{ seq: number; leafHash: Buffer; mac: Buffer | null }> {
    const batchSize = opts.batchSize ?? 2000;
    let after = opts.fromSeq - 1;
    while (after < opts.toSeq) {
      const rows = await this.db(EVENTS)
        .where({ client_key: clientKey })
        .andWhere('seq', '>', after)
        .andWhere('seq', '<=', opts.toSeq)
        .orderBy('seq')
        .limit(batchSize)
        .select<Array<{ seq: string | number; leaf_hash: Buffer; mac: Buffer | null }>>('seq', 'leaf_hash', 'mac');
      for (const r of rows) yield { seq: Number(r.seq), leafHash: r.leaf_hash, mac: r.mac };
      if (rows.length < batchSize) return;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  /** The highest seq of a row written before MACs existed (null: none). */
  async lastSeqWithoutMac(clientKey: string): Promise<number | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey }).whereNull('mac').max<{ seq: string | number | null }>('seq as seq').first();
    return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
  }

  /** Tenants that have rows without a MAC and no adoption yet. */
  async tenantsToAdopt(): Promise<string[]> {
    const rows = await this.db(EVENTS)
      .distinct('client_key')
      .whereNull('mac')
      .whereNotExists((q) => q.select(1).from(ADOPTIONS).whereRaw(`${ADOPTIONS}.client_key = ${EVENTS}.client_key`));
    return rows.map((r: { client_key: string }) => r.client_key);
  }

  async adoption(clientKey: string): Promise<{ throughSeq: number; chainHash: Buffer; mac: Buffer } | null> {
    const row = await this.db(ADOPTIONS).where({ client_key: clientKey }).first('through_seq', 'chain_hash', 'mac');
    return row ? { throughSeq: Number(row.through_seq), chainHash: row.chain_hash, mac: row.mac } : null;
  }

  /** Records the adoption unless one exists (instances starting together compute the same row). */
  async insertAdoption(clientKey: string, a: { throughSeq: number; chainHash: Buffer; mac: Buffer }): Promise<void> {
    await this.db(ADOPTIONS).insert({ client_key: clientKey, through_seq: a.throughSeq, chain_hash: a.chainHash, mac: a.mac }).onConflict('client_key').ignore();
  }

  /** The people the chain names by ref, while their subject rows exist. */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const rows = await this.db(SUBJECTS).where({ client_key: clientKey }).select('account_id', 'created_at');
    return rows.map((r: { account_id: string; created_at: Date }) => ({ accountId: r.account_id, at: r.created_at }));
  }

  /** A person's ref in the chain, while their subject exists (read before erasing: the erasure event names it). */
  async refOf(clientKey: string, accountId: string, trx: Knex.Transaction): Promise<string | null> {
    const row = await trx(SUBJECTS).where({ client_key: clientKey, account_id: accountId }).first('ref');
    return row ? row.ref : null;
  }

  /** The subject row goes: the chain keeps verifying (it holds refs), but nothing links the ref to the person. */
  async eraseAccount(clientKey: string, accountId: string, _marker: string, trx: Knex.Transaction): Promise<number> {
    return trx(SUBJECTS).where({ client_key: clientKey, account_id: accountId }).delete();
  }

}
