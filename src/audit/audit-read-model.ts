import type { Knex } from 'knex';
import type { Checkpoint, CheckpointSource } from '../evidence/evidence-checkpoint';
import type { EvidenceEvent } from '../evidence/evidence-csv';

const EVENTS = 'audit_events';
const SUBJECTS = 'audit_subjects';
const CHECKPOINTS = 'audit_checkpoints';
const CURSOR = 'attest_evidence_cursor';

interface EventDbRow {
  seq: number;
  canonical: string | null;
  leaf_hash: string;
  chain_hash: string;
  account_id: string | null;
  salt: string | null;
}

interface CheckpointDbRow {
  seq: number;
  chain_hash: Buffer;
  signed_at: Date;
  signature: string;
  key_id: string;
  witness: { tsa?: { token?: string } | null } | null;
}

/**
 * What readers of the audit chain depend on (the evidence export, the report): AuditReadModel's reads, and its
 * snapshot handing the same reads bound to it. A fake implements this without a database.
 */
export type AuditReads = Omit<AuditReadModel, 'snapshot'> & { snapshot<T>(work: (reads: AuditReads) => Promise<T>): Promise<T> };

/**
 * The audit chain as its readers see it (issue 14 §4: the audit tables have one owner, src/audit): the evidence
 * export, the SOC 2 report and the CLI read events, subjects and checkpoints only through this. Reads only; the
 * model a reader works with is bound to one read-only snapshot (`snapshot`).
 */
export class AuditReadModel implements CheckpointSource {
  constructor(private readonly db: Knex) {}

  /**
   * Runs `work` in a read-only repeatable-read snapshot, with the model bound to it: the range, the checkpoint
   * and the rows it reads agree with each other however long it streams. Rolled back when `work` throws.
   */
  snapshot<T>(work: (reads: AuditReadModel) => Promise<T>): Promise<T> {
    return this.db.transaction(async (trx) => {
      await trx.raw('set transaction isolation level repeatable read, read only');
      return work(this.boundTo(trx));
    });
  }

  /** The same model reading through `conn` (a snapshot's transaction). */
  protected boundTo(conn: Knex): AuditReadModel {
    return new AuditReadModel(conn);
  }

  /** The highest seq of the tenant (0 when it has no events). */
  async lastSeq(clientKey: string): Promise<number> {
    const row = await this.db(EVENTS).where({ client_key: clientKey }).max<{ max: number | null }>('seq as max').first();
    return Number(row?.max ?? 0);
  }

  /** The first seq recorded at or after `from` (null: none). */
  async firstSeqFrom(clientKey: string, from: Date): Promise<number | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey }).andWhere('recorded_at', '>=', from).min<{ min: number | null }>('seq as min').first();
    return row?.min == null ? null : Number(row.min);
  }

  /** The last seq recorded before `to` (null: none). */
  async lastSeqBefore(clientKey: string, to: Date): Promise<number | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey }).andWhere('recorded_at', '<', to).max<{ max: number | null }>('seq as max').first();
    return row?.max == null ? null : Number(row.max);
  }

  /**
   * The spaces the tenant's events name in their `space_key` column: only candidates (the SOC 2 report of
   * "every space a person administers" asks about each; what a report shows is decided by the canonical text).
   */
  async spaceKeys(clientKey: string): Promise<string[]> {
    const rows: Array<{ space_key: string }> = await this.db(EVENTS).where({ client_key: clientKey }).whereNotNull('space_key').distinct('space_key').orderBy('space_key');
    return rows.map((r) => r.space_key);
  }

  async chainHashAt(clientKey: string, seq: number): Promise<string | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey, seq }).first(this.db.raw(`encode(chain_hash, 'hex') as h`));
    return row ? (row.h as string) : null;
  }

  /**
   * The `at` in the canonical text of the event at `seq` (null: no such event). The exporter checks the
   * `recorded_at` column it planned with against it: a column can be changed, the signed-over text cannot.
   */
  async canonicalAt(clientKey: string, seq: number): Promise<string | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey, seq }).first(this.db.raw(`canonical::jsonb->>'at' as at`));
    return row ? ((row.at as string | null) ?? null) : null;
  }

  /** The canonical text of the event at `seq` as stored (null: no such event), unparsed: it may not be JSON. */
  async canonicalText(clientKey: string, seq: number): Promise<string | null> {
    const row = await this.db(EVENTS).where({ client_key: clientKey, seq }).first('canonical');
    return row ? ((row.canonical as string | null) ?? null) : null;
  }

  /**
   * Rows fromSeq..toSeq through a server-side cursor, `batch` rows per FETCH. Must run inside a
   * transaction. Rows after `contentToSeq` come without their canonical text and subject (the database never
   * sends their content), except erasures (`subject.erased`, which hold only a ref): a pack must show them.
   * Every other row comes with its text: whether it is in a space is decided by that text, never by the
   * `space_key` column (EvidenceService.records). Stopping the iteration closes the cursor at the next batch
   * boundary.
   */
  async *events(clientKey: string, opts: { fromSeq: number; toSeq: number; contentToSeq: number; batch?: number }): AsyncGenerator<EvidenceEvent> {
    // 500 rows a FETCH: V8 keeps what each batch allocated for a while, so bigger batches raise the peak (issue 15).
    const batch = opts.batch ?? 500;
    await this.db.raw(
      `declare ${CURSOR} no scroll cursor for
         select e.seq,
                case when e.seq <= ? or e.action = 'subject.erased' then e.canonical end as canonical,
                encode(e.leaf_hash, 'hex') as leaf_hash,
                encode(e.chain_hash, 'hex') as chain_hash,
                case when e.seq <= ? then s.account_id end as account_id,
                case when e.seq <= ? then encode(s.salt, 'hex') end as salt
           from ${EVENTS} e
           left join ${SUBJECTS} s on s.client_key = e.client_key and s.ref = e.actor_ref
          where e.client_key = ? and e.seq between ? and ?
          order by e.seq`,
      [opts.contentToSeq, opts.contentToSeq, opts.contentToSeq, clientKey, opts.fromSeq, opts.toSeq],
    );
    try {
      for (;;) {
        const { rows } = (await this.db.raw(`fetch forward ${batch} from ${CURSOR}`)) as { rows: EventDbRow[] };
        for (const r of rows) {
          yield {
            seq: Number(r.seq),
            canonical: r.canonical,
            leafHash: r.leaf_hash,
            chainHash: r.chain_hash,
            accountId: r.account_id,
            saltHex: r.salt,
          };
        }
        if (rows.length < batch) return;
      }
    } finally {
      await this.db.raw(`close ${CURSOR}`).catch(() => undefined);
    }
  }

  /** Whether the checkpoints table exists yet (it belongs to the scheduler's migration). */
  private async hasCheckpoints(): Promise<boolean> {
    const { rows } = await this.db.raw(`select to_regclass(?) as t`, [CHECKPOINTS]);
    return rows[0].t !== null;
  }

  /** Every checkpoint in fromSeq..toSeq, in seq order, read `batch` at a time (a pack carries them all). */
  async *checkpointsIn(clientKey: string, fromSeq: number, toSeq: number, batch = 1000): AsyncGenerator<Checkpoint> {
    if (!(await this.hasCheckpoints())) return;
    let after = fromSeq - 1;
    for (;;) {
      const rows: CheckpointDbRow[] = await this.db(CHECKPOINTS)
        .where({ client_key: clientKey })
        .andWhere('seq', '>', after)
        .andWhere('seq', '<=', toSeq)
        .orderBy('seq')
        .limit(batch)
        .select(CHECKPOINT_COLUMNS);
      for (const r of rows) yield toCheckpoint(clientKey, r);
      if (rows.length < batch) return;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  async checkpointFor(clientKey: string, seq: number, minSeq: number): Promise<Checkpoint | null> {
    if (!(await this.hasCheckpoints())) return null;
    const cols = CHECKPOINT_COLUMNS;
    const after: CheckpointDbRow | undefined = await this.db(CHECKPOINTS)
      .where({ client_key: clientKey })
      .andWhere('seq', '>=', seq)
      .orderBy([{ column: 'seq', order: 'asc' }, { column: 'signed_at', order: 'desc' }])
      .first(cols);
    const row: CheckpointDbRow | undefined =
      after ??
      (await this.db(CHECKPOINTS)
        .where({ client_key: clientKey })
        .andWhere('seq', '>=', minSeq)
        .andWhere('seq', '<', seq)
        .orderBy([{ column: 'seq', order: 'desc' }, { column: 'signed_at', order: 'desc' }])
        .first(cols));
    return row ? toCheckpoint(clientKey, row) : null;
  }
}

const CHECKPOINT_COLUMNS = ['seq', 'chain_hash', 'signed_at', 'signature', 'key_id', 'witness'];

function toCheckpoint(clientKey: string, row: CheckpointDbRow): Checkpoint {
  return {
    tenant: clientKey,
    seq: Number(row.seq),
    chainHash: Buffer.from(row.chain_hash).toString('hex'),
    signedAt: new Date(row.signed_at).toISOString(),
    signature: row.signature,
    keyId: row.key_id,
    timestampToken: row.witness?.tsa?.token ?? null,
  };
}
