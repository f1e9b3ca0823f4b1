import type { AuditEventInput } from '../../src/audit/audit-log';
import type { AuditTx } from '../../src/audit/audit-tx';

/**
 * The audit chain in memory: events in append order (`seq` from 1), a person's ref is `ref:<accountId>`.
 * `pending` events only become `events` when their transaction commits (see FakeTransactions).
 */
export class FakeAudit {
  readonly events: Array<AuditEventInput & { seq: number }> = [];

  /** The chain inside a transaction whose events land in `pending` until it commits. */
  in(pending: AuditEventInput[]): AuditTx {
    const append = async (_clientKey: string, e: AuditEventInput) => {
      pending.push(e);
      return { seq: this.events.length + pending.length } as never;
    };
    return {
      append,
      refs: async (_clientKey, accountIds) => accountIds.map((id) => `ref:${id}`),
    };
  }

  commit(pending: AuditEventInput[]): void {
    for (const e of pending) this.events.push({ ...e, seq: this.events.length + 1 });
  }

  actions(): string[] {
    return this.events.map((e) => e.action);
  }
}
