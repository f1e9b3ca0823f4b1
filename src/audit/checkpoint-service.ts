import { createHash, KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from '../lib/logger';
import { AuditLog, createAuditLog } from './audit-log';
import { AuditStore } from './audit-store';
import { checkpointMessage, keyIdOf, publicKeyOf, SignedCheckpoint, signCheckpoint, verifyCheckpoint } from './checkpoint-format';
import { Checkpoint, CheckpointStore, CheckpointWitness, VerificationMode, VerificationRecord } from './checkpoint-store';
import { TimestampReceipt, verifyCheckpointStamp } from './witness/timestamp';
import { requestTimestamp } from './witness/timestamp-request';
import type { Witness, WitnessedCheckpoint } from './witness/witness';

/**
 * Where checkpoints are published, outside the database's reach: the tenant's own Confluence (its app
 * properties) and, when configured, an RFC 3161 timestamp authority. A process without witnesses (the
 * operator's CLI) signs nothing: its exports end at the last witnessed checkpoint.
 */
export interface CheckpointWitnesses {
  confluence: Witness;
  tsa?: { url: string; certificatesPem: string[] };
  /** The human-visible trail page, told after each witnessed checkpoint (never in the way of one). */
  trail?: { publish(clientKey: string, seq: number, now: Date): Promise<unknown> };
}

/** What the space and site admin screens show about a tenant's chain. */
export interface VerificationStatus {
  /** `never`: no verification has run yet. */
  status: 'ok' | 'failed' | 'never';
  mode: VerificationMode | null;
  firstBadSeq: number | null;
  reason: string | null;
  verifiedToSeq: number | null;
  checkedAt: Date | null;
  lastCheckpoint: Pick<Checkpoint, 'seq' | 'chainHash' | 'signedAt' | 'keyId'> | null;
  /** The latest full check (from genesis) and the latest incremental one, as recorded. */
  full: VerificationRecord | null;
  incremental: VerificationRecord | null;
}

/** `fromSeq`: the first seq re-hashed, null when no row was (nothing new since the checkpoint). */
type Check = { ok: true; fromSeq: number | null; toSeq: number; chainHash: string | null } | { ok: false; seq: number; reason: string };

/** "2026-03-02 02:30 UTC" */
const utc = (d: Date) => `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;

/**
 * What the admin screens say, one line per kind of check, claiming no more than was done: the full check's
 * time and range, then what incremental checks have re-hashed since.
 */
export function verificationLines(s: Pick<VerificationStatus, 'full' | 'incremental'>, incrementalCounts: boolean): string[] {
  const { full, incremental: inc } = s;
  const lines: string[] = [];
  if (!full) lines.push('No full check yet.');
  else if (full.status === 'ok') lines.push(`Full check ${utc(full.checkedAt)}, events 1–${full.verifiedToSeq}: ok`);
  else lines.push(`Full check ${utc(full.checkedAt)}: FAILED at event ${full.firstBadSeq} (${full.reason})`);
  if (!inc || !incrementalCounts) return lines;
  if (inc.status === 'failed') {
    lines.push(`Incremental check ${utc(inc.checkedAt)}: FAILED at event ${inc.firstBadSeq} (${inc.reason})`);
  } else if (full?.status === 'ok') {
    const from = (full.verifiedToSeq ?? 0) + 1;
    lines.push(
      (inc.verifiedToSeq ?? 0) >= from
        ? `Since then: events ${from}–${inc.verifiedToSeq} checked incrementally (last ${utc(inc.checkedAt)})`
        : `Since then: no new events (last incremental check ${utc(inc.checkedAt)})`,
    );
  } else {
    lines.push(
      inc.verifiedFromSeq !== null
        ? `Incremental check ${utc(inc.checkedAt)}: events ${inc.verifiedFromSeq}–${inc.verifiedToSeq} ok`
        : `Incremental check ${utc(inc.checkedAt)}: no new events since the checkpoint at event ${inc.verifiedToSeq}`,
    );
  }
  return lines;
}

/**
 * Signs the tenant's chain head (Ed25519, key outside the database) when it moved, but only when the
 * head extends the previous checkpoint; verifies the chain incrementally (since the last checkpoint)
 * and fully; records the latest outcome per tenant so admin screens can show it. Failures are logged
 * as errors with the first bad seq.
 */
export type CheckpointOutcome = 'signed' | 'unchanged' | 'empty' | 'refused';

/** The checkpoints and verification records the service reads and writes (CheckpointStore; a fake in tests). */
export type CheckpointRecords = Pick<CheckpointStore, 'latest' | 'find' | 'all' | 'insert' | 'verification' | 'saveVerification'>;

export class CheckpointService {
  private readonly keyId: string;
  private readonly inFlight = new Map<string, Promise<CheckpointOutcome>>();

  constructor(
    private readonly deps: {
      db: Knex;
      audit: AuditLog;
      auditStore: Pick<AuditStore, 'head' | 'chainHashAt'>;
      store: CheckpointRecords;
      signingKey: KeyObject;
      logger: Logger;
      witnesses?: CheckpointWitnesses;
    },
  ) {
    this.keyId = keyIdOf(deps.signingKey);
  }

  async verificationStatus(clientKey: string): Promise<VerificationStatus> {
    return (await this.status(clientKey)).status;
  }

  /**
   * A failed full check stays failed until a full check passes; an incremental result counts unless a full
   * check that passed ran after it. The status is the failing record, else the most recent one.
   */
  private async status(clientKey: string): Promise<{ status: VerificationStatus; incrementalCounts: boolean }> {
    const [{ full, incremental }, cp] = await Promise.all([this.deps.store.verification(clientKey), this.deps.store.latest(clientKey)]);
    const incrementalCounts = !!incremental && !(full?.status === 'ok' && full.checkedAt >= incremental.checkedAt);
    const failing = full?.status === 'failed' ? full : incrementalCounts && incremental!.status === 'failed' ? incremental : null;
    const latest = failing ?? (incrementalCounts ? incremental : full);
    return {
      incrementalCounts,
      status: {
        status: latest?.status ?? 'never',
        mode: latest?.mode ?? null,
        firstBadSeq: latest?.firstBadSeq ?? null,
        reason: latest?.reason ?? null,
        verifiedToSeq: latest?.verifiedToSeq ?? null,
        checkedAt: latest?.checkedAt ?? null,
        lastCheckpoint: cp ? { seq: cp.seq, chainHash: cp.chainHash, signedAt: cp.signedAt, keyId: cp.keyId } : null,
        full,
        incremental,
      },
    };
  }

  /** The same, shaped for the space dashboard (spaces/verification-status.ts); null before any run. */
  async dashboardStatus(clientKey: string): Promise<{
    verification?: { ok: boolean; checkedAt?: string; seq?: number; reason?: string; firstBadSeq?: number; lines: string[] };
    checkpoint?: Pick<SignedCheckpoint, 'seq' | 'chainHash' | 'signedAt' | 'keyId'>;
  } | null> {
    const { status: s, incrementalCounts } = await this.status(clientKey);
    if (s.status === 'never' && !s.lastCheckpoint) return null;
    return {
      verification:
        s.status === 'never'
          ? undefined
          : {
              ok: s.status === 'ok',
              checkedAt: s.checkedAt?.toISOString(),
              seq: s.verifiedToSeq ?? undefined,
              reason: s.reason ?? undefined,
              firstBadSeq: s.firstBadSeq ?? undefined,
              lines: verificationLines(s, incrementalCounts),
            },
      checkpoint: s.lastCheckpoint ?? undefined,
    };
  }

  /**
   * Re-hashes every row since the last checkpoint and, when the head moved and extends it, signs a new
   * checkpoint. Refuses (error log + failed verification state) when a row does not verify or the head does
   * not extend the previous checkpoint, and while the last full check is failed: a signature must never
   * vouch for a chain known to be broken.
   */
  async checkpoint(clientKey: string, now: Date): Promise<CheckpointOutcome> {
    // Exports sign the head before they start: ten at once for one tenant re-check and publish once.
    const running = this.inFlight.get(clientKey);
    if (running) return running;
    const run = this.checkpointNow(clientKey, now).finally(() => this.inFlight.delete(clientKey));
    this.inFlight.set(clientKey, run);
    return run;
  }

  private async checkpointNow(clientKey: string, now: Date): Promise<CheckpointOutcome> {
    const head = await this.deps.auditStore.head(clientKey);
    if (!head || head.seq === 0 || !head.chainHash) return 'empty';
    const { full } = await this.deps.store.verification(clientKey);
    if (full?.status === 'failed') {
      this.deps.logger.error(
        { clientKey, firstBadSeq: full.firstBadSeq, reason: full.reason },
        'audit checkpoint REFUSED: the last full check of the chain failed',
      );
      return 'refused';
    }
    const witnesses = this.deps.witnesses;
    if (!witnesses) {
      this.deps.logger.info({ clientKey }, 'no witness in this process: no checkpoint signed (exports end at the last witnessed one)');
      return 'refused';
    }
    // The last checkpoint comes from the witness, never from the database alone: a superuser can delete
    // checkpoint rows and rewrite what they covered, but cannot change what the witness holds.
    const base = await this.witnessedBase(clientKey, witnesses.confluence, now);
    if (base === 'refused') return 'refused';
    // Nothing new to sign; nothing was checked either, so nothing is recorded.
    if (base && base.seq === head.seq && base.chainHash === head.chainHash.toString('hex')) return 'unchanged';
    let check = await this.sinceCheckpoint(clientKey, base, head.seq);
    // Hashes show nobody changed a row, not who wrote it: every row to be signed must carry the app's MAC.
    if (check.ok && check.toSeq > (base?.seq ?? 0)) {
      if (!this.deps.audit.authenticates) throw new Error('signing a checkpoint needs ATTEST_SECRET_KEY to check event MACs');
      const macs = await this.deps.audit.verifyMacs(this.deps.db, clientKey, { fromSeq: (base?.seq ?? 0) + 1, toSeq: check.toSeq });
      if (!macs.ok) check = { ok: false, seq: macs.seq, reason: macs.reason };
    }
    await this.record(clientKey, 'checkpoint', check, now);
    if (!check.ok) return 'refused';
    if (!check.chainHash || check.toSeq <= (base?.seq ?? 0)) return 'unchanged';
    const fields = { clientKey, seq: check.toSeq, chainHash: check.chainHash, signedAt: now.toISOString() };
    const signature = signCheckpoint(this.deps.signingKey, fields);
    // Witnessed first, recorded after: a checkpoint the witnesses did not take is not a checkpoint.
    let witness: CheckpointWitness;
    try {
      witness = await this.publish(witnesses, { ...fields, keyId: this.keyId, signature });
    } catch (err) {
      this.deps.logger.error({ clientKey, seq: fields.seq, err: (err as Error).message }, 'audit checkpoint DELAYED: a witness did not take it; nothing signed around it');
      return 'refused';
    }
    await this.deps.store.insert(clientKey, { seq: fields.seq, chainHash: fields.chainHash, signedAt: fields.signedAt, signature, keyId: this.keyId, witness });
    this.deps.logger.info({ clientKey, seq: fields.seq, keyId: this.keyId, tsa: !!witness.tsa }, 'audit checkpoint signed and witnessed');
    await witnesses.trail?.publish(clientKey, fields.seq, now);
    return 'signed';
  }

  /**
   * The checkpoint a new one must extend: the last one the Confluence witness holds (its signature and key
   * checked, the database's chain hash at its seq unchanged; a checkpoint row deleted from the database is
   * restored from it), else, before the first witnessed one, the database's latest with a valid signature.
   */
  private async witnessedBase(clientKey: string, confluence: Witness, now: Date): Promise<Checkpoint | null | 'refused'> {
    const refuse = async (seq: number, reason: string) => {
      await this.record(clientKey, 'checkpoint', { ok: false, seq, reason }, now);
      return 'refused' as const;
    };
    let witnessed: WitnessedCheckpoint | null;
    try {
      witnessed = await confluence.latest(clientKey);
    } catch (err) {
      this.deps.logger.error({ clientKey, err: (err as Error).message }, 'audit checkpoint DELAYED: the Confluence witness cannot be read');
      return 'refused';
    }
    const publicKey = publicKeyOf(this.deps.signingKey);
    if (witnessed) {
      if (witnessed.keyId !== this.keyId || !verifyCheckpoint(publicKey, witnessed, witnessed.signature)) {
        return refuse(witnessed.seq, `the checkpoint the witness holds for seq ${witnessed.seq} is not signed with this deployment's key`);
      }
      const at = await this.deps.auditStore.chainHashAt(clientKey, witnessed.seq);
      if (!at) return refuse(witnessed.seq, `seq ${witnessed.seq}, witnessed in Confluence at ${witnessed.signedAt}, is missing from the database: events were deleted`);
      if (at.toString('hex') !== witnessed.chainHash) {
        return refuse(witnessed.seq, `the database no longer matches the checkpoint witnessed in Confluence at seq ${witnessed.seq}: history was rewritten`);
      }
      // One row, not every checkpoint the tenant ever had (one every 5 minutes adds up).
      const stored = await this.deps.store.find(clientKey, witnessed.seq, witnessed.chainHash);
      if (!stored) {
        const restored = { seq: witnessed.seq, chainHash: witnessed.chainHash, signedAt: witnessed.signedAt, signature: witnessed.signature, keyId: witnessed.keyId };
        await this.deps.store.insert(clientKey, { ...restored, witness: { confluence: true, tsa: null } });
        this.deps.logger.warn({ clientKey, seq: witnessed.seq }, 'checkpoint row missing from the database: restored from the Confluence witness');
        return { clientKey, ...restored };
      }
      return stored;
    }
    const prev = await this.deps.store.latest(clientKey);
    if (prev && (prev.keyId !== this.keyId || !verifyCheckpoint(publicKey, prev, prev.signature))) {
      return refuse(prev.seq, `checkpoint at seq ${prev.seq} is not signed with this deployment's key`);
    }
    return prev;
  }

  /** Timestamps the signed message (when a TSA is configured), then stores the checkpoint in Confluence. */
  private async publish(w: CheckpointWitnesses, cp: WitnessedCheckpoint): Promise<CheckpointWitness> {
    let tsa: TimestampReceipt | null = null;
    if (w.tsa) {
      const digest = createHash('sha256').update(checkpointMessage(cp)).digest();
      tsa = await requestTimestamp(w.tsa.url, digest);
      // The TSA vouches the checkpoint existed by genTime: a signedAt after it would be a backdated stamp.
      verifyCheckpointStamp(tsa.token, checkpointMessage(cp), cp.signedAt, w.tsa.certificatesPem);
    }
    await w.confluence.publish(cp);
    return { confluence: true, tsa };
  }

  /** Incremental: the chain since the last checkpoint, and that the checkpointed row is unchanged. */
  async verifyIncremental(clientKey: string, now: Date): Promise<boolean> {
    const prev = await this.deps.store.latest(clientKey);
    const check = await this.sinceCheckpoint(clientKey, prev, undefined);
    await this.record(clientKey, 'incremental', check, now);
    return check.ok;
  }

  /** Full: the whole chain from genesis, and every checkpoint against it (hash and signature). */
  async verifyFull(clientKey: string, now: Date): Promise<boolean> {
    const result = await this.deps.audit.verify(this.deps.db, clientKey);
    let check: Check = result.ok
      ? { ok: true, fromSeq: result.firstSeq, toSeq: result.lastSeq ?? 0, chainHash: result.head }
      : { ok: false, seq: result.seq, reason: result.reason };
    if (check.ok) {
      const publicKey = publicKeyOf(this.deps.signingKey);
      for (const cp of await this.deps.store.all(clientKey)) {
        const problem = await this.checkpointProblem(clientKey, cp);
        if (problem) {
          check = { ok: false, seq: cp.seq, reason: problem };
          break;
        }
        // A checkpoint row under a key this deployment does not hold is a forgery (or an unannounced key
        // change): it is never skipped.
        if (cp.keyId !== this.keyId) {
          check = { ok: false, seq: cp.seq, reason: `checkpoint at seq ${cp.seq} names key ${cp.keyId.slice(0, 16)}…, not this deployment's signing key` };
          break;
        }
        if (!verifyCheckpoint(publicKey, cp, cp.signature)) {
          check = { ok: false, seq: cp.seq, reason: `checkpoint at seq ${cp.seq}: the signature does not verify` };
          break;
        }
      }
    }
    await this.record(clientKey, 'full', check, now);
    return check.ok;
  }

  private async checkpointProblem(clientKey: string, cp: Checkpoint): Promise<string | null> {
    const at = await this.deps.auditStore.chainHashAt(clientKey, cp.seq);
    if (!at) return `seq ${cp.seq} (checkpointed) is missing`;
    if (at.toString('hex') !== cp.chainHash) return `seq ${cp.seq}: the chain hash no longer matches the signed checkpoint`;
    return null;
  }

  private async sinceCheckpoint(clientKey: string, prev: Checkpoint | null, toSeq: number | undefined): Promise<Check> {
    if (prev) {
      const problem = await this.checkpointProblem(clientKey, prev);
      if (problem) return { ok: false, seq: prev.seq, reason: problem };
      if (toSeq !== undefined && toSeq <= prev.seq) {
        return { ok: false, seq: toSeq, reason: `the head (seq ${toSeq}) does not extend the checkpoint at seq ${prev.seq}` };
      }
    }
    const result = await this.deps.audit.verify(this.deps.db, clientKey, { fromSeq: (prev?.seq ?? 0) + 1, toSeq });
    if (!result.ok) return { ok: false, seq: result.seq, reason: result.reason };
    return { ok: true, fromSeq: result.firstSeq, toSeq: result.lastSeq ?? prev?.seq ?? 0, chainHash: result.lastSeq ? result.head : prev?.chainHash ?? null };
  }

  /** Keeps the latest result per scope (full, incremental); see status() for how they combine. */
  private async record(clientKey: string, mode: VerificationMode, check: Check, now: Date): Promise<void> {
    if (!check.ok) {
      this.deps.logger.error(
        { clientKey, mode, firstBadSeq: check.seq, reason: check.reason },
        mode === 'checkpoint' ? 'audit checkpoint REFUSED: the chain does not extend the last checkpoint' : 'audit chain verification FAILED',
      );
    }
    const record: VerificationRecord = check.ok
      ? { status: 'ok', mode, firstBadSeq: null, reason: null, verifiedFromSeq: check.fromSeq, verifiedToSeq: check.toSeq, checkedAt: now }
      : { status: 'failed', mode, firstBadSeq: check.seq, reason: check.reason, verifiedFromSeq: null, verifiedToSeq: null, checkedAt: now };
    await this.deps.store.saveVerification(clientKey, record);
  }
}

/** The checkpoint service on `db`, as the server and the `attest export` command both build it. */
export function createCheckpointService(
  db: Knex,
  keys: { signingKey: KeyObject; secretKey: Buffer },
  logger: Logger,
  witnesses?: CheckpointWitnesses,
): CheckpointService {
  return new CheckpointService({
    db,
    audit: createAuditLog(db, keys.secretKey),
    auditStore: new AuditStore(db),
    store: new CheckpointStore(db),
    signingKey: keys.signingKey,
    logger,
    witnesses,
  });
}
