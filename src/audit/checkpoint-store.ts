import type { Knex } from 'knex';
import type { SignedCheckpoint } from './checkpoint-format';
import type { TimestampReceipt } from './witness/timestamp';

const CHECKPOINTS = 'audit_checkpoints';
const VERIFICATION = 'audit_verification';

/** A signed checkpoint as stored, with which witnesses took it. */
export interface Checkpoint extends SignedCheckpoint {
  /** Which witnesses took it (and the TSA's receipt); null for checkpoints from before witnesses. */
  witness?: CheckpointWitness | null;
}

export interface CheckpointWitness {
  confluence: boolean;
  tsa: TimestampReceipt | null;
}

export type VerificationMode = 'incremental' | 'full' | 'checkpoint';

/** A full check re-hashes from genesis; an incremental one (or the checkpoint job's) since the last checkpoint. */
export type VerificationScope = 'full' | 'incremental';

export interface VerificationRecord {
  status: 'ok' | 'failed';
  mode: VerificationMode;
  firstBadSeq: number | null;
  reason: string | null;
  /** The first seq the run re-hashed; null when it re-hashed no row (nothing new since the checkpoint). */
  verifiedFromSeq: number | null;
  /** The last seq the run covered (its end when ok). */
  verifiedToSeq: number | null;
  checkedAt: Date;
}

export const scopeOf = (mode: VerificationMode): VerificationScope => (mode === 'full' ? 'full' : 'incremental');

interface CheckpointRow {
  client_key: string;
  seq: number;
  chain_hash: Buffer;
  signed_at: Date;
  signature: string;
  key_id: string;
  witness?: CheckpointWitness | null;
}

function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    clientKey: r.client_key,
    seq: Number(r.seq),
    chainHash: r.chain_hash.toString('hex'),
    // The signer wrote Date#toISOString's milliseconds: read back, it is the same text.
    signedAt: r.signed_at.toISOString(),
    signature: r.signature,
    keyId: r.key_id,
    witness: r.witness ?? null,
  };
}

/** Signed checkpoints of each tenant's chain and the outcome of the latest verification. */
export class CheckpointStore {
  constructor(private readonly db: Knex) {}

  async latest(clientKey: string): Promise<Checkpoint | null> {
    const row = await this.db<CheckpointRow>(CHECKPOINTS).where({ client_key: clientKey }).orderBy('seq', 'desc').first();
    return row ? toCheckpoint(row) : null;
  }

  /** The checkpoint at `seq` with this chain hash, or null. */
  async find(clientKey: string, seq: number, chainHash: string): Promise<Checkpoint | null> {
    const row = await this.db<CheckpointRow>(CHECKPOINTS)
      .where({ client_key: clientKey, seq, chain_hash: Buffer.from(chainHash, 'hex') })
      .first();
    return row ? toCheckpoint(row) : null;
  }

  async all(clientKey: string): Promise<Checkpoint[]> {
    const rows = await this.db<CheckpointRow>(CHECKPOINTS).where({ client_key: clientKey }).orderBy('seq');
    return rows.map(toCheckpoint);
  }

  /** False when a checkpoint at that seq exists already. */
  async insert(clientKey: string, c: Omit<Checkpoint, 'clientKey'>): Promise<boolean> {
    const rows = await this.db(CHECKPOINTS)
      .insert({
        client_key: clientKey,
        seq: c.seq,
        chain_hash: Buffer.from(c.chainHash, 'hex'),
        signed_at: new Date(c.signedAt),
        signature: c.signature,
        key_id: c.keyId,
        witness: c.witness ? JSON.stringify(c.witness) : null,
      })
      .onConflict(['client_key', 'seq'])
      .ignore()
      .returning('seq');
    return rows.length === 1;
  }

  /** The latest full and the latest incremental check of the tenant's chain. */
  async verification(clientKey: string): Promise<Record<VerificationScope, VerificationRecord | null>> {
    const rows = await this.db(VERIFICATION).where({ client_key: clientKey });
    const of = (scope: VerificationScope): VerificationRecord | null => {
      const r = rows.find((x) => x.scope === scope);
      if (!r) return null;
      const n = (v: unknown) => (v === null ? null : Number(v));
      return {
        status: r.status,
        mode: r.mode,
        firstBadSeq: n(r.first_bad_seq),
        reason: r.reason,
        verifiedFromSeq: n(r.verified_from_seq),
        verifiedToSeq: n(r.verified_to_seq),
        checkedAt: r.checked_at,
      };
    };
    return { full: of('full'), incremental: of('incremental') };
  }

  async saveVerification(clientKey: string, v: VerificationRecord): Promise<void> {
    await this.db(VERIFICATION)
      .insert({
        client_key: clientKey,
        scope: scopeOf(v.mode),
        status: v.status,
        mode: v.mode,
        first_bad_seq: v.firstBadSeq,
        reason: v.reason,
        verified_from_seq: v.verifiedFromSeq,
        verified_to_seq: v.verifiedToSeq,
        checked_at: v.checkedAt,
      })
      .onConflict(['client_key', 'scope'])
      .merge();
  }
}
