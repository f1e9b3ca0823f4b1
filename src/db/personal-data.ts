import type { Knex } from 'knex';

/** An accountId a store holds, with the last time it stored something about that person. */
export interface StoredAccount {
  accountId: string;
  at: Date;
}

/**
 * A store that keeps people's accountIds (issue 14 §4: each table has one owner). Atlassian's personal data
 * reporting (src/privacy) lists what every holder keeps and, for a closed account, has each holder erase it in
 * one transaction with the audit event that records the erasure. The owner knows its columns; privacy knows
 * only this contract and the list app.ts hands it — a table that holds accountIds and is not in that list is
 * a table whose holder forgot to say so.
 */
export interface PersonalDataHolder {
  /** Every accountId stored (erased markers included: the caller leaves those out). */
  accountsStored(clientKey: string): Promise<StoredAccount[]>;
  /**
   * Inside `trx`: replaces `accountId` by `marker` where a record is evidence (comments and decisions stay,
   * by a marker), deletes what is not; how many rows it touched.
   */
  eraseAccount(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number>;
}
