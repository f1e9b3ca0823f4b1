import type { AuditTx } from '../audit/audit-tx';
import type { Transactional } from '../lib/transactional';

export interface StoredSpaceSettings {
  spaceKey: string;
  /** As stored; normalise before use (older rows may lack newer fields). */
  settings: unknown;
  updatedAt: Date;
  updatedBy: string | null;
}

export interface SpaceSettingsReads {
  find(clientKey: string, spaceKey: string): Promise<StoredSpaceSettings | null>;
}

/** Space settings inside a transaction. */
export interface SpaceSettingsWrites {
  /** Locks the space's row until the transaction ends, creating it with `initial` first, so two first saves queue. */
  lock(clientKey: string, spaceKey: string, initial: unknown): Promise<StoredSpaceSettings>;
  update(clientKey: string, spaceKey: string, settings: unknown, updatedBy: string): Promise<StoredSpaceSettings>;
}

export interface SpaceSettingsTx {
  settings: SpaceSettingsWrites;
  audit: AuditTx;
}

export interface SpaceSettingsStores extends Transactional<SpaceSettingsTx> {
  settings: SpaceSettingsReads;
}
