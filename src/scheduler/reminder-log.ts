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

export type NewReminder = Omit<Reminder, 'id' | 'status' | 'commentId'>;

/**
 * Reminders sent (or being sent), so that a restart does not send one again within the cadence. A run reads
 * and writes with a fixed number of statements, however many workflows are open.
 */
export interface ReminderLog {
  /** The latest reminder of each workflow of the tenant that has one. */
  lastOfEach(clientKey: string): Promise<Map<string, Reminder>>;
  /** Records the run's reminders before their comments are posted (at most once, even if the process dies); their ids in order. */
  claimAll(clientKey: string, reminders: NewReminder[]): Promise<number[]>;
  /** The comments were posted. */
  markSentAll(clientKey: string, sent: Array<{ id: number; commentId: string }>): Promise<void>;
  /** The comments could not be posted: forget the claims so that the next run tries again. */
  releaseAll(clientKey: string, ids: number[]): Promise<void>;
}
