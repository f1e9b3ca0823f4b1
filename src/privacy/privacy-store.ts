import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import type { PersonalDataHolder } from '../db/personal-data';
import { withTransactional } from '../db/transactional';
import type { ReportedAccount } from './privacy-client';
import type { PrivacyCycle, PrivacyReads, PrivacyStores } from './privacy-ports';

export type { PrivacyCycle } from './privacy-ports';

const CYCLES = 'privacy_cycles';

/** Who holds personal data: every owner of a table with accountIds, and the audit chain's subjects (last). */
export interface PersonalDataHolders {
  holders: PersonalDataHolder[];
  /** The audit chain's subjects: its ref for a person, and erased last (the erasure event names the ref). */
  subjects: PersonalDataHolder & { refOf(clientKey: string, accountId: string, trx: Knex.Transaction): Promise<string | null> };
}

/**
 * The reporting cycle's state, and the personal data the holders keep, composed: each table's owner says what
 * it holds and erases it (src/db/personal-data.ts); this store only merges and orders them. Comments stay
 * (they are evidence); a person's accountId is replaced by `erased:<ref>` (or `erased`) and their audit
 * subject is deleted, so the chain keeps verifying but nothing links the ref to the person any more.
 */
export class PrivacyStore implements PrivacyReads {
  constructor(
    private readonly db: Knex,
    private readonly data: PersonalDataHolders,
  ) {}

  /** Distinct stored accountIds (erased markers left out) with the last time any holder stored something about each. */
  async storedAccounts(clientKey: string): Promise<ReportedAccount[]> {
    const latest = new Map<string, number>();
    // One holder at a time: a daily job need not take a connection per table from the pool requests use.
    for (const holder of [...this.data.holders, this.data.subjects]) {
      for (const { accountId, at } of await holder.accountsStored(clientKey)) {
        if (!accountId || accountId.startsWith('erased')) continue;
        latest.set(accountId, Math.max(latest.get(accountId) ?? -Infinity, new Date(at).getTime()));
      }
    }
    return [...latest.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([accountId, t]) => ({ accountId, updatedAt: new Date(t).toISOString() }));
  }

  async refOf(clientKey: string, accountId: string, trx: Knex.Transaction): Promise<string | null> {
    return this.data.subjects.refOf(clientKey, accountId, trx);
  }

  /** Each holder erases the accountId (the audit subject last); returns rows touched. */
  async erase(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    let n = 0;
    for (const holder of [...this.data.holders, this.data.subjects]) n += await holder.eraseAccount(clientKey, accountId, marker, trx);
    return n;
  }

  async cycle(clientKey: string): Promise<PrivacyCycle | null> {
    const r = await this.db(CYCLES).where({ client_key: clientKey }).first();
    return r
      ? { nextDueAt: r.next_due_at, retryAfter: r.retry_after, lastReportedAt: r.last_reported_at, lastReported: r.last_reported, erasedTotal: r.erased_total }
      : null;
  }

  async saveCycle(clientKey: string, c: PrivacyCycle): Promise<void> {
    await this.db(CYCLES)
      .insert({
        client_key: clientKey,
        next_due_at: c.nextDueAt,
        retry_after: c.retryAfter,
        last_reported_at: c.lastReportedAt,
        last_reported: c.lastReported,
        erased_total: c.erasedTotal,
      })
      .onConflict('client_key')
      .merge();
  }
}

/** The privacy service's stores: reads on the pool, and erasures with the personal data and audit chain bound to one transaction. */
export function privacyStores(db: Knex, deps: { store: PrivacyStore; audit: AuditLog }): PrivacyStores {
  const tx = withTransactional(db, (trx) => ({
    personalData: {
      refOf: (ck: string, accountId: string) => deps.store.refOf(ck, accountId, trx),
      erase: (ck: string, accountId: string, marker: string) => deps.store.erase(ck, accountId, marker, trx),
    },
    audit: deps.audit.in(trx),
  }));
  return { privacy: deps.store, transaction: tx.transaction };
}
