import type { Knex } from 'knex';

const SPACE_SETTINGS = 'space_settings';

interface SpaceSettingsRow {
  client_key: string;
  space_key: string;
  settings: unknown;
  updated_at: Date;
  updated_by: string | null;
}

export interface StoredSpaceSettings {
  spaceKey: string;
  /** As stored; normalise before use (older rows may lack newer fields). */
  settings: unknown;
  updatedAt: Date;
  updatedBy: string | null;
}

function toStored(r: SpaceSettingsRow): StoredSpaceSettings {
  return { spaceKey: r.space_key, settings: r.settings, updatedAt: r.updated_at, updatedBy: r.updated_by };
}

export class SpaceSettingsStore {
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
}
