import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import { withTransactional } from '../db/transactional';
import type { ReportedAccount } from './privacy-client';
import type { PrivacyCycle, PrivacyReads, PrivacyStores } from './privacy-ports';

export type { PrivacyCycle } from './privacy-ports';

const CYCLES = 'privacy_cycles';

/**
 * Every place Attest stores an accountId, in one store on purpose: listing them for the reporting
 * cycle and erasing a closed account must not miss a table. Comments stay (they are evidence);
 * a person's accountId is replaced by `erased:<ref>` (or `erased`) and their audit subject is deleted,
 * so the chain keeps verifying but nothing links the ref to the person any more.
 */
export class PrivacyStore implements PrivacyReads {
  constructor(private readonly db: Knex) {}

  /** Distinct stored accountIds with the last time we stored something about each. */
  async storedAccounts(clientKey: string): Promise<ReportedAccount[]> {
    const { rows } = await this.db.raw(
      `select account_id, max(at) as updated_at from (
         select account_id, created_at as at from audit_subjects where client_key = :ck
         union all select approver_id, decided_at from decisions where client_key = :ck
         union all select delegate_id, decided_at from decisions where client_key = :ck and delegate_id is not null
         union all select delegator_id, updated_at from delegations where client_key = :ck
         union all select delegate_id, updated_at from delegations where client_key = :ck
         union all select unnest(approvers), updated_at from workflows where client_key = :ck
         union all select bound_author_id, updated_at from workflows where client_key = :ck and bound_author_id is not null
         union all select unnest(account_ids), sent_at from reminders where client_key = :ck
         union all select updated_by, updated_at from space_settings where client_key = :ck and updated_by is not null
         union all select jsonb_array_elements_text(coalesce(settings->'defaults'->'approvers', '[]'::jsonb)), updated_at
                     from space_settings where client_key = :ck
       ) a
       where account_id not like 'erased%'
       group by account_id
       order by account_id`,
      { ck: clientKey },
    );
    return rows.map((r: { account_id: string; updated_at: Date }) => ({ accountId: r.account_id, updatedAt: new Date(r.updated_at).toISOString() }));
  }

  async refOf(clientKey: string, accountId: string, trx: Knex.Transaction): Promise<string | null> {
    const row = await trx('audit_subjects').where({ client_key: clientKey, account_id: accountId }).first('ref');
    return row ? row.ref : null;
  }

  /** Replaces the accountId by `marker` everywhere and deletes the audit subject; returns rows touched. */
  async erase(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    let n = 0;
    n += await trx('decisions').where({ client_key: clientKey, approver_id: accountId }).update({ approver_id: marker });
    n += await trx('decisions').where({ client_key: clientKey, delegate_id: accountId }).update({ delegate_id: marker });
    // A delegation is no evidence (the chain records it, by refs): one naming a closed account goes.
    n += await trx('delegations')
      .where({ client_key: clientKey })
      .where((q) => q.where('delegator_id', accountId).orWhere('delegate_id', accountId))
      .delete();
    n += await trx('workflows')
      .where({ client_key: clientKey })
      .whereRaw('? = any(approvers)', [accountId])
      .update({ approvers: trx.raw('array_replace(approvers, ?, ?)', [accountId, marker]) });
    n += await trx('workflows').where({ client_key: clientKey, bound_author_id: accountId }).update({ bound_author_id: marker });
    n += await trx('reminders')
      .where({ client_key: clientKey })
      .whereRaw('? = any(account_ids)', [accountId])
      .update({ account_ids: trx.raw('array_replace(account_ids, ?, ?)', [accountId, marker]) });
    n += await trx('space_settings').where({ client_key: clientKey, updated_by: accountId }).update({ updated_by: marker });
    // A closed account cannot approve: it leaves the space's default approvers.
    n += await trx('space_settings')
      .where({ client_key: clientKey })
      .whereRaw(`settings->'defaults'->'approvers' \\? ?`, [accountId])
      .update({
        settings: trx.raw(
          `jsonb_set(settings, '{defaults,approvers}',
             (select coalesce(jsonb_agg(a), '[]'::jsonb) from jsonb_array_elements_text(settings->'defaults'->'approvers') a where a <> ?))`,
          [accountId],
        ),
      });
    // Webhook payloads name the users who edited pages.
    n += await trx('page_events')
      .where({ client_key: clientKey })
      .whereRaw('strpos(payload::text, ?) > 0', [accountId])
      .update({ payload: trx.raw('replace(payload::text, ?, ?)::jsonb', [accountId, marker]) });
    n += await trx('audit_subjects').where({ client_key: clientKey, account_id: accountId }).delete();
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
