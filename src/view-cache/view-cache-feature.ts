import type { Knex } from 'knex';
import type { ClientConfig } from 'pg';
import type { AceStore } from '../db/ace-store';
import type { Logger } from '../lib/logger';
import { TenantChangeListener } from './tenant-change-listener';
import { ViewCache, ViewCacheFeature } from './view-cache';
import { ViewCacheStore } from './view-cache-store';

/**
 * The render cache of issue 15: what a macro render reads, kept per tenant until a committed write to the
 * tenant's rows (any instance) says otherwise. Resolves once listening (or failing to, then it bypasses itself).
 */
export async function createViewCache(deps: { db: Knex; store: AceStore; logger: Logger }): Promise<ViewCacheFeature> {
  const rows = new ViewCacheStore(deps.db);
  const cache = new ViewCache({
    tenant: async (clientKey) => {
      const info = (await deps.store.get('clientInfo', clientKey)) as { sharedSecret?: string; baseUrl?: string } | null;
      return info?.sharedSecret ? { clientKey, sharedSecret: info.sharedSecret, baseUrl: info.baseUrl ?? '' } : null;
    },
    renderRows: (clientKey, spaceKey, pageId, macroId) => rows.renderRows(clientKey, spaceKey, pageId, macroId),
  });
  const listener = new TenantChangeListener({
    connection: deps.db.client.config.connection as string | ClientConfig,
    events: cache,
    logger: deps.logger,
  });
  await listener.start();
  return { cache, listener, stop: () => listener.stop() };
}
