import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import type { NewReminder, Reminder, ReminderLog } from './reminder-log';

export type { Reminder } from './reminder-log';

const REMINDERS = 'reminders';
/** Reminders claimed per INSERT (7 parameters each, well under PostgreSQL's 65,535). */
const CLAIM_ROWS = 1_000;

/** The reminder log in PostgreSQL: one statement per step of a run, not one per workflow. */
export class RemindersStore implements ReminderLog, PersonalDataHolder {
  constructor(private readonly db: Knex) {}

  async lastOfEach(clientKey: string): Promise<Map<string, Reminder>> {
    const rows = await this.db(REMINDERS)
      .distinctOn('workflow_id')
      .where({ client_key: clientKey })
      .orderBy([{ column: 'workflow_id' }, { column: 'sent_at', order: 'desc' }]);
    return new Map(rows.map((r) => [r.workflow_id as string, toReminder(r)]));
  }

  /**
   * One INSERT per CLAIM_ROWS reminders: a statement binds at most 65,535 parameters (7 a reminder), and a tenant with
   * more reminders due at once than one statement holds would otherwise fail every run and remind nobody.
   */
  async claimAll(clientKey: string, rs: NewReminder[]): Promise<number[]> {
    const ids: number[] = [];
    for (let at = 0; at < rs.length; at += CLAIM_ROWS) {
      const rows = await this.db(REMINDERS)
        .insert(rs.slice(at, at + CLAIM_ROWS).map((r) => ({ client_key: clientKey, workflow_id: r.workflowId, round: r.round, account_ids: r.accountIds, groups: r.groups, sent_at: r.sentAt, status: 'sending' })))
        .returning('id');
      // PostgreSQL returns a multi-row INSERT's rows in the order of its VALUES.
      ids.push(...rows.map((row: { id: string | number }) => Number(row.id)));
    }
    return ids;
  }

  async markSentAll(clientKey: string, sent: Array<{ id: number; commentId: string }>): Promise<void> {
    if (!sent.length) return;
    await this.db.raw(
      `update ${REMINDERS} r set status = 'sent', comment_id = u.comment_id
         from unnest(?::bigint[], ?::text[]) as u(id, comment_id)
        where r.client_key = ? and r.id = u.id`,
      [sent.map((s) => s.id), sent.map((s) => s.commentId), clientKey] as unknown as Knex.RawBinding[],
    );
  }

  async releaseAll(clientKey: string, ids: number[]): Promise<void> {
    if (!ids.length) return;
    await this.db.raw(`delete from ${REMINDERS} where client_key = ? and status = 'sending' and id = any(?::bigint[])`, [clientKey, ids] as unknown as Knex.RawBinding[]);
  }

  /** The people each reminder went to. */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const { rows } = await this.db.raw(`select unnest(account_ids) as account_id, sent_at as at from ${REMINDERS} where client_key = ?`, [clientKey]);
    return rows.map((r: { account_id: string; at: Date }) => ({ accountId: r.account_id, at: r.at }));
  }

  async eraseAccount(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    return trx(REMINDERS)
      .where({ client_key: clientKey })
      .whereRaw('? = any(account_ids)', [accountId])
      .update({ account_ids: trx.raw('array_replace(account_ids, ?, ?)', [accountId, marker]) });
  }

}

function toReminder(r: Record<string, any>): Reminder {
  return {
    id: Number(r.id),
    workflowId: r.workflow_id,
    round: r.round,
    accountIds: r.account_ids,
    groups: r.groups,
    sentAt: r.sent_at,
    status: r.status,
    commentId: r.comment_id,
  };
}
