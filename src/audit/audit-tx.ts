import type { AuditEvent, AuditEventInput } from './audit-log';

/**
 * The audit chain inside one transaction (the bound-stores object of a service hands it out): an event commits
 * with the change it records, or neither does. Turn people into refs (`refs`) before the first append of a
 * transaction: subjects are created without the head lock, which keeps the lock order the same everywhere.
 */
export interface AuditTx {
  append(clientKey: string, event: AuditEventInput): Promise<AuditEvent>;
  /** Refs for several accountIds, in the order given, created on first use. */
  refs(clientKey: string, accountIds: string[]): Promise<string[]>;
}
