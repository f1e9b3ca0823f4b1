import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { InputError } from '../lib/errors';
import {
  ACTOR_TYPES,
  ActorType,
  CanonicalEvent,
  CanonicalPage,
  FORMAT_VERSION,
  VerifyResult,
  canonicalText,
  chainHash,
  genesisHash,
  isHashHex,
  leafHash,
  nonJsonPath,
  subjectRef,
  verifyRows,
} from './audit-format';
import { AuditAction, AuditData, auditDataProblem } from './audit-actions';
import { AuditHead, AuditStore } from './audit-store';
import { adoptionMac, eventMac, MacKey, macKeys, sameMac } from './event-mac';

/**
 * An event the code asked to append breaks the chain's rules. Callers validate people's input before it
 * gets here, so this is our defect, not the user's: a 500 with a generic message, never shown (#12).
 */
export class AuditEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditEventError';
  }
}

export type { ActorType, VerifyResult } from './audit-format';

/** What every event a service records has; the audit log adds tenant, seq, time and hashes. */
interface AuditEventBase {
  /**
   * `user`: a person (accountId required); `system`: Attest itself, e.g. the scheduler (no accountId);
   * `confluence`: a webhook, with the accountId of the Confluence user who caused it when known.
   */
  actor: { type: ActorType; accountId?: string | null };
  spaceKey?: string | null;
  page?: CanonicalPage | null;
  workflowId?: string | null;
}

/**
 * What a service records: an action of the catalogue (src/audit/audit-actions.ts) with the data it carries.
 * `data` is plain JSON only, and never an accountId: turn people into refs with `refs()` (keys named like
 * `accountId` are refused).
 */
export type AuditEventInput = { [A in AuditAction]: AuditEventBase & { action: A; data: AuditData<A> } }[AuditAction];

export interface AuditEvent {
  clientKey: string;
  seq: number;
  at: string;
  action: string;
  actor: { type: ActorType; ref: string | null };
  spaceKey: string | null;
  page: CanonicalPage | null;
  workflowId: string | null;
  data: Record<string, unknown>;
  /** The stored RFC 8785 text; hashes are lower-case hex. */
  canonical: string;
  leafHash: string;
  prevChainHash: string;
  chainHash: string;
}

export interface VerifyOptions {
  fromSeq?: number;
  toSeq?: number;
}

const ACCOUNT_ID_KEY = /^account[_-]?ids?$/i;

function accountIdKeyPath(value: unknown, path: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = accountIdKeyPath(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (ACCOUNT_ID_KEY.test(k)) return `${path}.${k}`;
      const bad = accountIdKeyPath(v, `${path}.${k}`);
      if (bad) return bad;
    }
  }
  return null;
}

function optionalText(name: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '') throw new AuditEventError(`audit event: ${name} must be a non-empty string or null`);
  return value;
}

function checkedPage(page: CanonicalPage | null | undefined): CanonicalPage | null {
  if (page === undefined || page === null) return null;
  if (typeof page.id !== 'string' || page.id === '') throw new AuditEventError('audit event: page.id must be a non-empty string');
  if (!Number.isSafeInteger(page.version) || page.version < 1) throw new AuditEventError('audit event: page.version must be a positive integer');
  if (typeof page.title !== 'string') throw new AuditEventError('audit event: page.title must be a string');
  if (page.bodyHash !== null && !isHashHex(page.bodyHash)) {
    throw new AuditEventError('audit event: page.bodyHash must be lower-case hex SHA-256 or null');
  }
  if (nonJsonPath(page.title)) throw new AuditEventError('audit event: page.title is not valid Unicode');
  return { id: page.id, version: page.version, title: page.title, bodyHash: page.bodyHash };
}

function checkedData(data: Record<string, unknown> | undefined): Record<string, unknown> {
  if (data === undefined) return {};
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new AuditEventError('audit event: data must be an object');
  const notJson = nonJsonPath(data, 'data');
  if (notJson) throw new AuditEventError(`audit event: ${notJson} is not plain JSON`);
  const accountKey = accountIdKeyPath(data, 'data');
  if (accountKey) throw new AuditEventError(`audit event: ${accountKey} looks like an accountId; record refs instead`);
  return data;
}

interface CheckedEvent {
  action: string;
  actorType: ActorType;
  accountId: string | null;
  spaceKey: string | null;
  page: CanonicalPage | null;
  workflowId: string | null;
  data: Record<string, unknown>;
}

/** The event as the chain will record it, or an AuditEventError naming what breaks the chain's rules. */
function checkedEvent(clientKey: string, event: AuditEventInput): CheckedEvent {
  if (typeof clientKey !== 'string' || clientKey === '') throw new AuditEventError('audit event: clientKey is required');
  if (typeof event.action !== 'string' || (event.action as string) === '') throw new AuditEventError('audit event: action is required');
  const actorType = event.actor?.type;
  if (!ACTOR_TYPES.includes(actorType)) throw new AuditEventError(`audit event: unknown actor type ${JSON.stringify(actorType)}`);
  const accountId = event.actor.accountId ?? null;
  if (actorType === 'user' && !accountId) throw new AuditEventError('audit event: a user actor needs an accountId');
  if (actorType === 'system' && accountId) throw new AuditEventError('audit event: a system actor has no accountId');
  const spaceKey = optionalText('spaceKey', event.spaceKey);
  const workflowId = optionalText('workflowId', event.workflowId);
  const page = checkedPage(event.page);
  const data = checkedData(event.data);
  // Last, so that the format's own rules (actor, page, plain JSON, no accountId) are named first.
  const offCatalogue = auditDataProblem(event.action, data);
  if (offCatalogue) throw new AuditEventError(`audit event: ${offCatalogue}`);
  return { action: event.action, actorType, accountId, spaceKey, workflowId, page, data };
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
    const [built] = this.build(clientKey, head, [{ ...checked, ref }]);
    await store.insertEventAndAdvance(clientKey, built.row);
    this.countOnCommit(trx, [built.event]);
    return built.event;
  }

  /**
   * Appends `events` (in order) to the tenant's chain and commits `trx`, in one round trip once the head is
   * locked: the head lock is held for one statement and the commit's flush, not for trips back to Node.
   * Everything that does not need the lock (checks, the people's refs) happens before it is taken. This is
   * the transaction's last database work: after it `trx` holds nothing (knex's own commit ends it); on any
   * failure nothing of it is committed.
   */
  async appendAndCommit(trx: Knex.Transaction, clientKey: string, events: AuditEventInput[]): Promise<AuditEvent[]> {
    const checked = events.map((e) => checkedEvent(clientKey, e));
    if (!checked.length) throw new AuditEventError('audit event: nothing to append');
    const people = [...new Set(checked.map((c) => c.accountId).filter((id): id is string => id !== null))];
    const refs = new Map(people.length ? (await this.refs(trx, clientKey, people)).map((ref, i) => [people[i], ref]) : []);
    const store = this.store.on(trx);
    const head = await this.lockHead(store, clientKey);
    const built = this.build(clientKey, head, checked.map((c) => ({ ...c, ref: c.accountId ? refs.get(c.accountId)! : null })));
    await store.appendEventsAndCommit(clientKey, head.seq, head.chainHash, built.map((b) => b.row));
    this.countOnCommit(trx, built.map((b) => b.event));
    return built.map((b) => b.event);
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

  /** Seq, time, canonical text, hashes and MAC of events that follow `head` (held locked). */
  private build(clientKey: string, head: AuditHead & { lastAtMicros: bigint | null }, events: Array<CheckedEvent & { ref: string | null }>) {
    const key = this.macKey!(clientKey);
    // The app's clock, never earlier than the last event (instances' clocks may differ slightly).
    const nowMicros = BigInt(this.now()) * 1000n;
    const at = formatMicros(head.lastAtMicros !== null && head.lastAtMicros > nowMicros ? head.lastAtMicros : nowMicros);
    let prev = head.chainHash ?? genesisHash(clientKey);
    return events.map((e, i) => {
      const seq = head.seq + 1 + i;
      const actor = { type: e.actorType, ref: e.ref };
      const doc: CanonicalEvent = {
        v: FORMAT_VERSION,
        tenant: clientKey,
        seq,
        at,
        action: e.action,
        actor,
        space: e.spaceKey,
        page: e.page,
        workflow: e.workflowId,
        data: e.data,
      };
      const canonical = canonicalText(doc);
      const leaf = leafHash(canonical);
      const chain = chainHash(prev, leaf);
      const event: AuditEvent = {
        clientKey,
        seq,
        at,
        action: e.action,
        actor,
        spaceKey: e.spaceKey,
        page: e.page,
        workflowId: e.workflowId,
        data: e.data,
        canonical,
        leafHash: leaf.toString('hex'),
        prevChainHash: prev.toString('hex'),
        chainHash: chain.toString('hex'),
      };
      const row = {
        seq,
        recordedAt: at,
        action: e.action,
        spaceKey: e.spaceKey,
        pageId: e.page?.id ?? null,
        workflowId: e.workflowId,
        actorRef: e.ref,
        canonical,
        leafHash: leaf,
        chainHash: chain,
        mac: eventMac(key, leaf),
      };
      prev = chain;
      return { event, row };
    });
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

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` (format v1's `at`) from microseconds since the epoch. */
export function formatMicros(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const frac = (micros % 1_000_000n).toString().padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}
