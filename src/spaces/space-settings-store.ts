import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import type { AuditLog } from '../audit/audit-log';
import { DEFAULT_POLICY, SpacePolicyProvider } from '../approvals/space-policy';
import { withTransactional } from '../db/transactional';
import type { SpaceSettingsStores, SpaceSettingsWrites, StoredSpaceSettings } from './space-settings-ports';
import { normaliseSettings } from './spaces-schemas';

export type { StoredSpaceSettings } from './space-settings-ports';

const SPACE_SETTINGS = 'space_settings';

interface SpaceSettingsRow {
  client_key: string;
  space_key: string;
  settings: unknown;
  updated_at: Date;
  updated_by: string | null;
}

function toStored(r: SpaceSettingsRow): StoredSpaceSettings {
  return { spaceKey: r.space_key, settings: r.settings, updatedAt: r.updated_at, updatedBy: r.updated_by };
}

export class SpaceSettingsStore implements PersonalDataHolder {
  constructor(private readonly db: Knex) {}

  async find(clientKey: string, spaceKey: string, trx?: Knex.Transaction): Promise<StoredSpaceSettings | null> {
    const row = await (trx ?? this.db)<SpaceSettingsRow>(SPACE_SETTINGS).where({ client_key: clientKey, space_key: spaceKey }).first();
    return row ? toStored(row) : null;
  }

  /**
   * Locks the space's settings row until `trx` ends, creating it with `initial` first when the space has
   * none yet, so that two first saves queue instead of both reading "no settings".
   */
  async lock(clientKey: string, spaceKey: string, initial: unknown, trx: Knex.Transaction): Promise<StoredSpaceSettings> {
    await trx(SPACE_SETTINGS)
      .insert({ client_key: clientKey, space_key: spaceKey, settings: JSON.stringify(initial), updated_by: null })
      .onConflict(['client_key', 'space_key'])
      .ignore();
    const row = await trx<SpaceSettingsRow>(SPACE_SETTINGS).where({ client_key: clientKey, space_key: spaceKey }).forUpdate().first();
    return toStored(row as SpaceSettingsRow);
  }

  async update(clientKey: string, spaceKey: string, settings: unknown, updatedBy: string, trx: Knex.Transaction): Promise<StoredSpaceSettings> {
    const [row] = await trx<SpaceSettingsRow>(SPACE_SETTINGS)
      .where({ client_key: clientKey, space_key: spaceKey })
      .update({ settings: JSON.stringify(settings), updated_by: updatedBy, updated_at: trx.fn.now() as unknown as Date })
      .returning('*');
    return toStored(row as SpaceSettingsRow);
  }

  /** Who last changed a space's settings, and the space's default approvers. */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const { rows } = await this.db.raw(
      `select updated_by as account_id, updated_at as at from ${SPACE_SETTINGS} where client_key = :ck and updated_by is not null
       union all select jsonb_array_elements_text(coalesce(settings->'defaults'->'approvers', '[]'::jsonb)), updated_at
                   from ${SPACE_SETTINGS} where client_key = :ck`,
      { ck: clientKey },
    );
    return rows.map((r: { account_id: string; at: Date }) => ({ accountId: r.account_id, at: r.at }));
  }

  /** The editor becomes the marker; a closed account cannot approve, so it leaves the default approvers. */
  async eraseAccount(clientKey: string, accountId: string, marker: string, trx: Knex.Transaction): Promise<number> {
    let n = await trx(SPACE_SETTINGS).where({ client_key: clientKey, updated_by: accountId }).update({ updated_by: marker });
    n += await trx(SPACE_SETTINGS)
      .where({ client_key: clientKey })
      .whereRaw(`settings->'defaults'->'approvers' \\? ?`, [accountId])
      .update({
        settings: trx.raw(
          `jsonb_set(settings, '{defaults,approvers}',
             (select coalesce(jsonb_agg(a), '[]'::jsonb) from jsonb_array_elements_text(settings->'defaults'->'approvers') a where a <> ?))`,
          [accountId],
        ),
      });
    return n;
  }

}

/** The space policies as `conn` (a transaction, or the pool) sees them: the defaults where a space saved none. */
export function storedPolicies(store: SpaceSettingsStore, conn?: Knex.Transaction): SpacePolicyProvider {
  return {
    async policyFor(clientKey, spaceKey) {
      const found = await store.find(clientKey, spaceKey, conn);
      return found ? normaliseSettings(found.settings) : DEFAULT_POLICY;
    },
  };
}

/** The settings service's stores on `db`: reads on the pool, and transactions with the settings and audit chain bound to them. */
export function spaceSettingsStores(db: Knex, deps: { store: SpaceSettingsStore; audit: AuditLog }): SpaceSettingsStores {
  const settingsIn = (trx: Knex.Transaction): SpaceSettingsWrites => ({
    lock: (ck, spaceKey, initial) => deps.store.lock(ck, spaceKey, initial, trx),
    update: (ck, spaceKey, settings, updatedBy) => deps.store.update(ck, spaceKey, settings, updatedBy, trx),
  });
  return { settings: deps.store, transaction: withTransactional(db, (trx) => ({ settings: settingsIn(trx), audit: deps.audit.in(trx) })).transaction };
}
