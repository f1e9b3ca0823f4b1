import type { Knex } from 'knex';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../lib/errors';
import type { SecretBox } from '../lib/secret-box';

/** The install payload as Confluence sends it and ACE hands it around ("clientInfo"). */
export interface ClientInfo {
  key: string;
  clientKey: string;
  sharedSecret: string;
  baseUrl: string;
  displayUrl?: string;
  productType?: string;
  description?: string;
  oauthClientId?: string;
  cloudId?: string;
  [field: string]: unknown;
}

export interface TenantRow {
  client_key: string;
  addon_key: string;
  base_url: string;
  display_url: string | null;
  product_type: string | null;
  description: string | null;
  oauth_client_id: string | null;
  cloud_id: string | null;
  shared_secret_enc: Buffer;
  state: 'installed' | 'uninstalled';
  install_payload: Record<string, unknown>;
  installed_at: Date;
  updated_at: Date;
  uninstalled_at: Date | null;
}

const TENANTS = 'tenants';
const SETTINGS = 'addon_settings';
const CLIENT_INFO = 'clientInfo';

class NotSupportedError extends Error {
  constructor(method: string) {
    super(`${method} is not supported: Attest is a Connect app and stores no Forge installations`);
    this.name = 'NotSupportedError';
  }
}

/**
 * ACE's settings store on PostgreSQL through knex. `clientInfo` lives in `tenants` with the
 * shared secret sealed (AES-256-GCM, clientKey as associated data); every other key lives in
 * `addon_settings`. An uninstalled tenant keeps its row but is invisible to ACE, so its JWTs fail.
 */
export class AceStore {
  private clientInfoSource: ((clientKey: string) => Promise<ClientInfo | null>) | null = null;
  private readonly tenantWritten = new Set<(clientKey: string) => void>();

  constructor(
    private readonly db: Knex,
    private readonly box: SecretBox,
  ) {}

  /**
   * From now on `get('clientInfo')` — every lookup ACE and our own JWT checks make, and every request ACE signs
   * for Confluence — asks `source` (a cache, src/view-cache) instead of reading and decrypting the row.
   * `readClientInfo` still reads the table. `onWritten` hears every install and uninstall this instance commits,
   * before the write's NOTIFY comes back (that one reaches the other instances).
   */
  readClientInfoThrough(source: (clientKey: string) => Promise<ClientInfo | null>, onWritten: (clientKey: string) => void): void {
    this.clientInfoSource = source;
    this.tenantWritten.add(onWritten);
  }

  /** The installed tenant's clientInfo from the table (its secret decrypted), or null. */
  async readClientInfo(clientKey: string): Promise<ClientInfo | null> {
    const row = await this.db<TenantRow>(TENANTS).where({ client_key: clientKey, state: 'installed' }).first();
    return row ? this.toClientInfo(row) : null;
  }

  private written(clientKey: string): void {
    for (const f of this.tenantWritten) f(clientKey);
  }

  isMemoryStore(): boolean {
    return false;
  }

  /**
   * ACE turns a failed lookup into a plain 500 carrying only our error's text: a database that is away says
   * so by name (DatabaseUnavailableError), so that the error middleware can answer 503 instead.
   */
  async get(key: string, clientKey: string): Promise<unknown> {
    try {
      return await this.read(key, clientKey);
    } catch (err) {
      throw isDatabaseUnavailable(err) ? new DatabaseUnavailableError(err) : err;
    }
  }

  private async read(key: string, clientKey: string): Promise<unknown> {
    if (key === CLIENT_INFO) {
      if (!this.clientInfoSource) return this.readClientInfo(clientKey);
      const info = await this.clientInfoSource(clientKey);
      // A copy: what ACE is handed cannot change what the next request reads.
      return info ? { ...info } : null;
    }
    const row = await this.db(SETTINGS).where({ client_key: clientKey, key }).first('val');
    return row ? row.val : null;
  }

  async set(key: string, val: unknown, clientKey: string): Promise<unknown> {
    const value = typeof val === 'string' && key === CLIENT_INFO ? JSON.parse(val) : val;
    if (key === CLIENT_INFO) {
      await this.upsertTenant(value as ClientInfo, clientKey);
      this.written(clientKey);
      return this.readClientInfo(clientKey);
    } else {
      await this.db(SETTINGS)
        .insert({ client_key: clientKey, key, val: JSON.stringify(value ?? null), updated_at: this.db.fn.now() })
        .onConflict(['client_key', 'key'])
        .merge(['val', 'updated_at']);
    }
    return this.get(key, clientKey);
  }

  async saveInstallation(val: ClientInfo, clientKey: string): Promise<unknown> {
    return this.set(CLIENT_INFO, val, clientKey);
  }

  /** Deleting clientInfo uninstalls the tenant but keeps its evidence (see README, data retention). */
  async del(key: string, clientKey: string): Promise<void> {
    if (key === CLIENT_INFO) {
      await this.markUninstalled(clientKey);
    } else {
      await this.db(SETTINGS).where({ client_key: clientKey, key }).delete();
    }
  }

  async getAllClientInfos(): Promise<ClientInfo[]> {
    const rows = await this.db<TenantRow>(TENANTS).where({ state: 'installed' }).orderBy('client_key');
    return rows.map((r) => this.toClientInfo(r));
  }

  async markUninstalled(clientKey: string): Promise<boolean> {
    const n = await this.db(TENANTS)
      .where({ client_key: clientKey })
      .update({ state: 'uninstalled', uninstalled_at: this.db.fn.now(), updated_at: this.db.fn.now() });
    this.written(clientKey);
    return n > 0;
  }

  async tenantState(clientKey: string): Promise<TenantRow['state'] | null> {
    const row = await this.db<TenantRow>(TENANTS).where({ client_key: clientKey }).first('state');
    return row ? row.state : null;
  }

  // Forge installations: ACE calls these only for Forge-associated apps. Attest is not one.
  async associateInstallations(): Promise<never> {
    throw new NotSupportedError('associateInstallations');
  }
  async deleteAssociation(): Promise<never> {
    throw new NotSupportedError('deleteAssociation');
  }
  async getClientSettingsForForgeInstallation(): Promise<never> {
    throw new NotSupportedError('getClientSettingsForForgeInstallation');
  }
  forForgeInstallation(): never {
    throw new NotSupportedError('forForgeInstallation');
  }

  private async upsertTenant(info: ClientInfo, clientKey: string): Promise<void> {
    if (!info || typeof info !== 'object') throw new Error('clientInfo must be an object');
    if (info.clientKey && info.clientKey !== clientKey) throw new Error('clientInfo.clientKey does not match the key');
    if (!info.sharedSecret || !info.baseUrl || !info.key) throw new Error('clientInfo needs key, baseUrl and sharedSecret');
    const { sharedSecret, publicKey: _publicKey, ...rest } = info;
    const row = {
      client_key: clientKey,
      addon_key: info.key,
      base_url: info.baseUrl,
      display_url: info.displayUrl ?? null,
      product_type: info.productType ?? null,
      description: info.description ?? null,
      oauth_client_id: info.oauthClientId ?? null,
      cloud_id: info.cloudId ?? null,
      shared_secret_enc: this.box.seal(sharedSecret, clientKey),
      state: 'installed',
      install_payload: JSON.stringify(rest),
      updated_at: this.db.fn.now(),
      uninstalled_at: null,
    };
    await this.db(TENANTS)
      .insert({ ...row, installed_at: this.db.fn.now() })
      .onConflict('client_key')
      .merge(Object.keys(row).filter((k) => k !== 'client_key'));
  }

  private toClientInfo(row: TenantRow): ClientInfo {
    return {
      ...row.install_payload,
      key: row.addon_key,
      clientKey: row.client_key,
      baseUrl: row.base_url,
      ...(row.display_url ? { displayUrl: row.display_url } : {}),
      ...(row.product_type ? { productType: row.product_type } : {}),
      ...(row.oauth_client_id ? { oauthClientId: row.oauth_client_id } : {}),
      ...(row.cloud_id ? { cloudId: row.cloud_id } : {}),
      sharedSecret: this.openSecret(row),
    };
  }

  private openSecret(row: TenantRow): string {
    try {
      return this.box.open(row.shared_secret_enc, row.client_key);
    } catch {
      // Every instance of a deployment must run with the same ATTEST_SECRET_KEY.
      throw new Error(`the shared secret of ${row.client_key} cannot be decrypted: ATTEST_SECRET_KEY is not the key it was stored with`);
    }
  }
}
