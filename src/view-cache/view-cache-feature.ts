import type { Knex } from 'knex';
import type { ClientConfig } from 'pg';
import type { AceStore, ClientInfo } from '../db/ace-store';
import { dayOf } from '../approvals/delegation';
import type { SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import type { Logger } from '../lib/logger';
import { RenderedViews } from './rendered-views';
import { TenantChangeListener } from './tenant-change-listener';
import { ViewCache, ViewCacheFeature } from './view-cache';
import { ViewCacheStore } from './view-cache-store';

/**
 * The caches of issue 15: what a macro render reads, the installation's clientInfo (shared secret) and the
 * spaces' policies, kept per tenant until a committed write to the tenant's rows (any instance) says
 * otherwise. From here on the store hands ACE (and every JWT check) the cached clientInfo.
 * Resolves once listening (or failing to, then it bypasses itself).
 */
export async function createViewCache(deps: { db: Knex; store: AceStore; logger: Logger; now?: () => number }): Promise<ViewCacheFeature> {
  const rows = new ViewCacheStore(deps.db);
  // Delegations lapsed before today are not loaded: kept across midnight, a list holds a day's more, which every
  // reader leaves out by the dates as it does any delegation not active today.
  const today = () => dayOf(new Date(deps.now ? deps.now() : Date.now()));
  const cache = new ViewCache({
    tenant: (clientKey) => deps.store.readClientInfo(clientKey),
    renderRows: (clientKey, spaceKey, pageId, macroId) => rows.renderRows(clientKey, spaceKey, pageId, macroId, today()),
    spaceSettings: (clientKey, spaceKey) => rows.spaceSettings(clientKey, spaceKey),
    openDelegations: (clientKey) => rows.openDelegations(clientKey, today()),
  });
  // This instance's own installs and uninstalls take effect here at once; the NOTIFY tells the others.
  deps.store.readClientInfoThrough(
    async (clientKey) => (await cache.tenant(clientKey)) as ClientInfo | null,
    (clientKey) => cache.configChanged(clientKey),
  );
  const listener = new TenantChangeListener({
    connection: deps.db.client.config.connection as string | ClientConfig,
    events: cache,
    logger: deps.logger,
  });
  await listener.start();
  return { cache, rendered: new RenderedViews(deps.now), listener, stop: () => listener.stop() };
}

/**
 * Space policies from the cache, for reads outside a transaction (a decision's policy, a view's); a read inside
 * one goes to the transaction's own stores (approvals-tx-store.ts), so that it sees what the transaction sees.
 */
export class CachedSpacePolicies implements SpacePolicyProvider {
  constructor(private readonly cache: ViewCache) {}

  policyFor(clientKey: string, spaceKey: string): Promise<SpacePolicy> {
    return this.cache.policy(clientKey, spaceKey);
  }
}
