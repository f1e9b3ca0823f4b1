import type { AuditTx } from '../audit/audit-tx';
import type { Transactional } from '../lib/transactional';
import type { ReportedAccount } from './privacy-client';

export interface PrivacyCycle {
  nextDueAt: Date;
  retryAfter: Date | null;
  lastReportedAt: Date | null;
  lastReported: number;
  erasedTotal: number;
}

/** Every stored accountId, and the tenant's reporting cycle. */
export interface PrivacyReads {
  /** Distinct stored accountIds with the last time we stored something about each. */
  storedAccounts(clientKey: string): Promise<ReportedAccount[]>;
  cycle(clientKey: string): Promise<PrivacyCycle | null>;
  saveCycle(clientKey: string, c: PrivacyCycle): Promise<void>;
}

/** Erasing one closed account inside a transaction. */
export interface PersonalDataTx {
  /** The account's ref in the audit chain, while its subject exists. */
  refOf(clientKey: string, accountId: string): Promise<string | null>;
  /** Replaces the accountId by `marker` everywhere it is stored and deletes its audit subject; how many rows changed. */
  erase(clientKey: string, accountId: string, marker: string): Promise<number>;
}

export interface PrivacyTx {
  personalData: PersonalDataTx;
  audit: AuditTx;
}

export interface PrivacyStores extends Transactional<PrivacyTx> {
  privacy: PrivacyReads;
}
