import type { NewReminder, Reminder, ReminderLog } from '../../src/scheduler/reminder-log';

/** The reminder log in memory; `calls` counts each method's calls (the statements a run would send). */
export class FakeReminderLog implements ReminderLog {
  readonly rows: Array<Reminder & { clientKey: string }> = [];
  readonly calls = { lastOfEach: 0, claimAll: 0, markSentAll: 0, releaseAll: 0 };
  private nextId = 1;

  async lastOfEach(clientKey: string): Promise<Map<string, Reminder>> {
    this.calls.lastOfEach++;
    const last = new Map<string, Reminder>();
    for (const r of this.rows.filter((x) => x.clientKey === clientKey)) {
      const seen = last.get(r.workflowId);
      if (!seen || seen.sentAt < r.sentAt) last.set(r.workflowId, { ...r });
    }
    return last;
  }

  async claimAll(clientKey: string, rs: NewReminder[]): Promise<number[]> {
    this.calls.claimAll++;
    return rs.map((r) => {
      const id = this.nextId++;
      this.rows.push({ ...r, clientKey, id, status: 'sending', commentId: null });
      return id;
    });
  }

  async markSentAll(clientKey: string, sent: Array<{ id: number; commentId: string }>): Promise<void> {
    this.calls.markSentAll++;
    for (const s of sent) Object.assign(this.rows.find((r) => r.clientKey === clientKey && r.id === s.id)!, { status: 'sent', commentId: s.commentId });
  }

  async releaseAll(clientKey: string, ids: number[]): Promise<void> {
    this.calls.releaseAll++;
    for (const id of ids) {
      const i = this.rows.findIndex((r) => r.clientKey === clientKey && r.id === id && r.status === 'sending');
      if (i >= 0) this.rows.splice(i, 1);
    }
  }
}
