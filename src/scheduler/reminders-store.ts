import type { Knex } from 'knex';

const REMINDERS = 'reminders';

export interface Reminder {
  id: number;
  workflowId: string;
  round: number;
  accountIds: string[];
  groups: string[];
  sentAt: Date;
  status: 'sending' | 'sent';
  commentId: string | null;
}

/** Reminders sent (or being sent): a restart does not send one again within the cadence. */
export class RemindersStore {
  constructor(private readonly db: Knex) {}

  /** The latest reminder of each workflow of the tenant that has one (one query per run, not one per workflow). */
  async lastOfEach(clientKey: string): Promise<Map<string, Reminder>> {
    const rows = await this.db(REMINDERS)
      .distinctOn('workflow_id')
      .where({ client_key: clientKey })
      .orderBy([{ column: 'workflow_id' }, { column: 'sent_at', order: 'desc' }]);
    return new Map(rows.map((r) => [r.workflow_id as string, toReminder(r)]));
  }

  /** Records the reminder before the comment is posted (at most once, even if the process dies). */
  async claim(clientKey: string, r: Omit<Reminder, 'id' | 'status' | 'commentId'>): Promise<number> {
    const [row] = await this.db(REMINDERS)
      .insert({ client_key: clientKey, workflow_id: r.workflowId, round: r.round, account_ids: r.accountIds, groups: r.groups, sent_at: r.sentAt, status: 'sending' })
      .returning('id');
    return Number(row.id);
  }

  async markSent(clientKey: string, id: number, commentId: string): Promise<void> {
    await this.db(REMINDERS).where({ client_key: clientKey, id }).update({ status: 'sent', comment_id: commentId });
  }

  /** The comment could not be posted: forget the claim so that the next run tries again. */
  async release(clientKey: string, id: number): Promise<void> {
    await this.db(REMINDERS).where({ client_key: clientKey, id, status: 'sending' }).delete();
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
