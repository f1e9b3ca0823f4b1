import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Statement } from '../db/pipeline';
import { InputError } from '../lib/errors';
import { VerifyResult, subjectRef, verifyRows } from './audit-format';
import { AuditEvent, AuditEventError, AuditEventInput, buildEvents, checkedEvent } from './audit-events';
import { AuditStore, LockedHead } from './audit-store';
import type { AuditTx } from './audit-tx';
import { adoptionMac, eventMac, MacKey, macKeys, sameMac } from './event-mac';

export { AuditEventError, formatMicros } from './audit-events';
export type { AuditEvent, AuditEventInput } from './audit-events';
export type { LockedHead } from './audit-store';
export type { ActorType, VerifyResult } from './audit-format';

function refOf(refs: Map<string, string>, accountId: string): string {
  const ref = refs.get(accountId);
  if (!ref) throw new Error('audit: no ref for an actor of the events');
  return ref;
}

export interface VerifyOptions {
  fromSeq?: number;
  toSeq?: number;
}

/**
 * The tenant's hash-chained audit trail (format v1). Appends run inside the caller's transaction so an
 * event commits with the change it records, or neither does; every failure throws.
 */
export class AuditLog {
  private readonly store: AuditStore;
  private readonly macKey: MacKey | null;
  private readonly now: () => number;
  private readonly onAppended: ((action: string) => void) | null;
  private readonly onHeadLockWait: ((seconds: number) => void) | null;

  /**
   * `macKey` (from ATTEST_SECRET_KEY) is what lets this process append and check MACs; without it the log
   * is read-only (the CLI verifies hashes and signatures, which need no secret).
   */
  constructor(deps: {
    store: AuditStore;
    macKey?: MacKey | null;
    now?: () => number;
    onAppended?: (action: string) => void;
    /** Seconds from asking for the tenant's head lock to holding it, once per append. */
    onHeadLockWait?: (seconds: number) => void;
  }) {
    this.store = deps.store;
    this.macKey = deps.macKey ?? null;
    this.now = deps.now ?? Date.now;
    this.onAppended = deps.onAppended ?? null;
    this.onHeadLockWait = deps.onHeadLockWait ?? null;
  }

  /** The chain inside `trx`, for the bound stores of a service's transaction (src/lib/transactional.ts). */
  in(trx: Knex.Transaction): AuditTx {
    return {
      append: (clientKey, event) => this.append(trx, clientKey, event),
      refs: (clientKey, accountIds) => this.refs(trx, clientKey, accountIds),
    };
  }

  /**
   * Appends one event to the tenant's chain inside `trx`. Appends for a tenant queue on its head row
   * until `trx` ends, so keep the transaction short after the first append. Call `refs`/`refFor` for
   * the people in `data` before the first append of a transaction (subjects are created without the
   * head lock, which keeps lock order the same in every transaction).
   */
  async append(trx: Knex.Transaction, clientKey: string, event: AuditEventInput): Promise<AuditEvent> {
    const checked = checkedEvent(clientKey, event);
    const ref = checked.accountId ? await this.refFor(trx, clientKey, checked.accountId) : null;
    const store = this.store.on(trx);
    const head = await this.lockHead(store, clientKey);
    const [built] = buildEvents(clientKey, this.macKey!(clientKey), this.now(), head, [{ ...checked, ref }]);
    await store.insertEventAndAdvance(clientKey, built.row);
    this.countOnCommit(trx, [built.event]);
    return built.event;
  }

  /**
   * For a pipeline (src/db/pipeline.ts) that appends before the head lock is held: the subjects of `accountIds`
   * created where missing (each with a fresh salt; in accountId order, as `refs` creates them), then their refs
   * (a second statement, which sees subjects a concurrent transaction created while the first waited).
   */
  subjectStatements(clientKey: string, accountIds: string[]): [Statement<string[]>, Statement<Map<string, string>>] {
    if (!accountIds.length) throw new InputError('audit: subjectStatements needs accountIds');
    const unique = [...new Set(accountIds)].sort();
    const fresh = unique.map((accountId) => {
      const salt = randomBytes(16);
      return { accountId, salt, ref: subjectRef(salt, accountId) };
    });
    return [this.store.insertSubjectsStatement(clientKey, fresh), this.store.findSubjectRefsStatement(clientKey, unique)];
  }

  /**
   * For a pipeline in the transaction that created them (the first of `subjectStatements`, which read their
   * accountIds): removes subjects that none of its events names, so that nobody's accountId is kept for nothing.
   */
  unusedSubjectsStatement(clientKey: string, created: string[]): Statement<void> {
    return this.store.deleteSubjectsStatement(clientKey, created);
  }

  /**
   * For a pipeline: locks the tenant's head, null when it has none yet (then send `ensureHeadStatement` and this
   * again). Tell `headLockWaited` how long it took.
   */
  headStatement(clientKey: string): Statement<LockedHead | null> {
    if (!this.macKey) throw new Error('this audit log was opened without ATTEST_SECRET_KEY and cannot append');
    return this.store.lockHeadStatement(clientKey);
  }

  /** For a pipeline: creates the tenant's head at seq 0 unless it exists. */
  ensureHeadStatement(clientKey: string): Statement<void> {
    return this.store.ensureHeadStatement(clientKey);
  }

  /** Reports the wait for a head lock taken in a pipeline (attest_audit_head_lock_wait_seconds). */
  headLockWaited(seconds: number): void {
    this.onHeadLockWait?.(seconds);
  }

  /**
   * `events` appended after `head` (locked by the caller's transaction), as the statement a pipeline sends just
   * before `COMMIT`; `refs` must hold every user actor's ref. Call `counted` once the commit is acknowledged.
   */
  appendStatement(clientKey: string, head: LockedHead, refs: Map<string, string>, events: AuditEventInput[]): { statement: Statement<void>; events: AuditEvent[]; counted(): void } {
    if (!this.macKey) throw new Error('this audit log was opened without ATTEST_SECRET_KEY and cannot append');
    const checked = events.map((e) => checkedEvent(clientKey, e));
    if (!checked.length) throw new AuditEventError('audit event: nothing to append');
    const built = buildEvents(clientKey, this.macKey(clientKey), this.now(), head, checked.map((c) => ({ ...c, ref: c.accountId ? refOf(refs, c.accountId) : null })));
    const appended = built.map((b) => b.event);
    return {
      statement: this.store.appendEventsStatement(clientKey, head.seq, head.chainHash, built.map((b) => b.row)),
      events: appended,
      counted: () => appended.forEach((e) => this.onAppended?.(e.action)),
    };
  }

  /** Locks the tenant's head row (creating it at seq 0 the first time), reporting how long that took. */
  private async lockHead(store: AuditStore, clientKey: string) {
    if (!this.macKey) throw new Error('this audit log was opened without ATTEST_SECRET_KEY and cannot append');
    const started = process.hrtime.bigint();
    let head = await store.lockHead(clientKey);
    if (!head) {
      await store.ensureHead(clientKey);
      head = await store.lockHead(clientKey);
      if (!head) throw new Error(`audit head for ${clientKey} vanished while appending`);
    }
    this.onHeadLockWait?.(Number(process.hrtime.bigint() - started) / 1e9);
    return head;
  }

  /** Counted once the transaction commits (a rolled-back append never happened). */
  private countOnCommit(trx: Knex.Transaction, events: AuditEvent[]): void {
    const counted = this.onAppended;
    if (counted) trx.executionPromise.then(() => events.forEach((e) => counted(e.action)), () => undefined);
  }

  /** The ref that stands for `accountId` in this tenant's chain, created on first use inside `trx`. */
  async refFor(trx: Knex.Transaction, clientKey: string, accountId: string): Promise<string> {
    const [ref] = await this.refs(trx, clientKey, [accountId]);
    return ref;
  }

  /** Refs for several accountIds, in the order given (e.g. a workflow's approvers for `data`). */
  async refs(trx: Knex.Transaction, clientKey: string, accountIds: string[]): Promise<string[]> {
    for (const id of accountIds) {
      if (typeof id !== 'string' || id === '') throw new InputError('audit: accountIds must be non-empty strings');
    }
    const store = this.store.on(trx);
    const unique = [...new Set(accountIds)];
    let found = await store.findSubjectRefs(clientKey, unique);
    // Sorted so that two transactions creating the same subjects lock them in the same order.
    const missing = unique.filter((id) => !found.has(id)).sort();
    if (missing.length) {
      await store.insertSubjects(
        clientKey,
        missing.map((accountId) => {
          const salt = randomBytes(16);
          return { accountId, salt, ref: subjectRef(salt, accountId) };
        }),
      );
      found = new Map([...found, ...(await store.findSubjectRefs(clientKey, missing))]);
    }
    return accountIds.map((id) => {
      const ref = found.get(id);
      if (!ref) throw new Error('audit subject could not be created');
      return ref;
    });
  }

  /** Whether this log holds the MAC key (appends, MAC checks); the CLI's verify opens it without. */
  get authenticates(): boolean {
    return this.macKey !== null;
  }

  /**
   * Checks that every event in the range carries the MAC this deployment would have made for it (rows
   * before MACs existed: only under a valid adoption). Names the first row that does not: a row the app
   * did not append (a database superuser's), or one whose leaf hash was changed since.
   */
  async verifyMacs(db: Knex, clientKey: string, opts: { fromSeq: number; toSeq: number }): Promise<{ ok: true } | { ok: false; seq: number; reason: string }> {
    if (!this.macKey) throw new Error('checking MACs needs ATTEST_SECRET_KEY');
    const key = this.macKey(clientKey);
    return db.transaction(
      async (trx) => {
        const store = this.store.on(trx);
        const adoption = await store.adoption(clientKey);
        let adoptedThrough = 0;
        if (adoption) {
          const chainAt = await store.chainHashAt(clientKey, adoption.throughSeq);
          const valid = sameMac(adoption.mac, adoptionMac(key, adoption.throughSeq, adoption.chainHash));
          if (!valid) return { ok: false as const, seq: adoption.throughSeq, reason: 'the adoption of rows written before MACs is not authentic' };
          if (!chainAt || !chainAt.equals(adoption.chainHash)) {
            return { ok: false as const, seq: adoption.throughSeq, reason: 'rows written before MACs were changed after their adoption' };
          }
          adoptedThrough = adoption.throughSeq;
        }
        for await (const row of store.macs(clientKey, opts)) {
          if (row.mac === null) {
            if (row.seq <= adoptedThrough) continue;
            return { ok: false as const, seq: row.seq, reason: 'event has no MAC: it was not appended by Attest' };
          }
          if (!sameMac(row.mac, eventMac(key, row.leafHash))) return { ok: false as const, seq: row.seq, reason: 'event MAC does not match: it was not appended by Attest, or was changed' };
        }
        return { ok: true as const };
      },
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }

  /**
   * Once per tenant, vouches for the rows written before MACs existed (they cannot get a MAC of their own:
   * audit_events is append-only) with one MAC over the last such row's seq and chain hash. Returns the
   * adopted seq, or null when there was nothing to adopt or an adoption exists.
   */
  async adoptRowsWithoutMac(db: Knex, clientKey: string): Promise<number | null> {
    if (!this.macKey) throw new Error('adopting rows needs ATTEST_SECRET_KEY');
    const store = this.store.on(db);
    if (await store.adoption(clientKey)) return null;
    const through = await store.lastSeqWithoutMac(clientKey);
    if (through === null) return null;
    const chainHash = await store.chainHashAt(clientKey, through);
    if (!chainHash) return null;
    await store.insertAdoption(clientKey, { throughSeq: through, chainHash, mac: adoptionMac(this.macKey(clientKey), through, chainHash) });
    return through;
  }

  /** Every tenant with rows from before MACs gets its adoption (at start-up, before requests are served). */
  async adoptAllRowsWithoutMac(db: Knex): Promise<Array<{ clientKey: string; throughSeq: number }>> {
    const out = [];
    for (const clientKey of await this.store.on(db).tenantsToAdopt()) {
      const throughSeq = await this.adoptRowsWithoutMac(db, clientKey);
      if (throughSeq !== null) out.push({ clientKey, throughSeq });
    }
    return out;
  }

  /**
   * Recomputes the tenant's chain from the stored canonical texts in one consistent snapshot, streaming
   * rows in batches. Names the first bad seq. The head row is checked when the range reaches it.
   */
  async verify(db: Knex, clientKey: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const fromSeq = opts.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw new InputError('verify: fromSeq must be a positive integer');
    if (opts.toSeq !== undefined && (!Number.isSafeInteger(opts.toSeq) || opts.toSeq < fromSeq)) {
      throw new InputError('verify: toSeq must be an integer not below fromSeq');
    }
    return db.transaction(
      async (trx) => {
        const store = this.store.on(trx);
        const head = await store.head(clientKey);
        let prevChainHash: Buffer | undefined;
        if (fromSeq > 1) {
          const prev = await store.chainHashAt(clientKey, fromSeq - 1);
          if (!prev) return { ok: false, seq: fromSeq - 1, reason: `seq ${fromSeq - 1} missing (needed to start at seq ${fromSeq})` };
          prevChainHash = prev;
        }
        return verifyRows(clientKey, store.events(clientKey, { fromSeq, toSeq: opts.toSeq }), {
          fromSeq,
          toSeq: opts.toSeq,
          prevChainHash,
          head,
        });
      },
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }
}

/** `secretKey`: ATTEST_SECRET_KEY; without it the log can verify hashes but neither append nor check MACs. */
export function createAuditLog(
  db: Knex,
  secretKey?: Buffer,
  opts: { onAppended?: (action: string) => void; onHeadLockWait?: (seconds: number) => void; now?: () => number } = {},
): AuditLog {
  return new AuditLog({ store: new AuditStore(db), macKey: secretKey ? macKeys(secretKey) : null, onAppended: opts.onAppended, onHeadLockWait: opts.onHeadLockWait, now: opts.now });
}
