import type { AuditEventInput } from '../../src/audit/audit-log';
import type { ReportedAccount } from '../../src/privacy/privacy-client';
import type { PrivacyCycle, PrivacyReads, PrivacyStores, PrivacyTx } from '../../src/privacy/privacy-ports';
import { FakeAudit } from './fake-audit';

/**
 * Personal data in memory: the accountIds stored (each with its ref while its audit subject exists) and the
 * reporting cycle; an erasure replaces the accountId by its marker and forgets the subject, committed with its event.
 */
export class FakePrivacyStores implements PrivacyStores {
  readonly accounts = new Map<string, { updatedAt: string; ref: string | null }>();
  readonly erasedAs = new Map<string, string>();
  readonly audit = new FakeAudit();
  savedCycle: PrivacyCycle | null = null;

  readonly privacy: PrivacyReads = {
    storedAccounts: async (): Promise<ReportedAccount[]> => [...this.accounts].map(([accountId, a]) => ({ accountId, updatedAt: a.updatedAt })),
    cycle: async () => (this.savedCycle ? { ...this.savedCycle } : null),
    saveCycle: async (_ck, c) => {
      this.savedCycle = { ...c };
    },
  };

  async transaction<T>(work: (tx: PrivacyTx) => Promise<T>): Promise<T> {
    const pending: AuditEventInput[] = [];
    const erased: Array<[string, string]> = [];
    const result = await work({
      personalData: {
        refOf: async (_ck, accountId) => this.accounts.get(accountId)?.ref ?? null,
        erase: async (_ck, accountId, marker) => (this.accounts.has(accountId) ? (erased.push([accountId, marker]), 1) : 0),
      },
      audit: this.audit.in(pending),
    });
    for (const [accountId, marker] of erased) {
      this.accounts.delete(accountId);
      this.erasedAs.set(accountId, marker);
    }
    this.audit.commit(pending);
    return result;
  }
}
