/** Installations of the add-on: the signed install and uninstall lifecycle calls, one tenant per clientKey. */
import type { Logger } from '../lib/logger';
import type { Descriptor, TenantInfo } from './devhost-api';
import { signInstall } from './devhost-jwt';
import { DevhostError, DevhostStore, newSharedSecret } from './devhost-state';
import type { DevTenant } from './devhost-types';

export function createTenantLifecycle(opts: { store: DevhostStore; descriptor: Descriptor; addonBaseUrl: string; logger: Logger }) {
  const { store, descriptor, addonBaseUrl, logger } = opts;

  const tenantOf = (clientKey?: string): DevTenant => {
    const t = clientKey ? store.tenant(clientKey) : store.primary;
    if (!t) throw new DevhostError(404, `the devhost has no tenant ${clientKey}`);
    return t;
  };
  const info = (t: DevTenant): TenantInfo => ({ clientKey: t.clientKey, sharedSecret: t.sharedSecret, baseUrl: t.baseUrl, installed: t.installed });

  async function postLifecycle(tenant: DevTenant, event: 'installed' | 'uninstalled'): Promise<void> {
    const url = `${addonBaseUrl}/${event}`;
    const payload = {
      key: descriptor.key,
      clientKey: tenant.clientKey,
      sharedSecret: tenant.sharedSecret,
      serverVersion: '6452',
      pluginsVersion: '1001.0.0-SNAPSHOT',
      baseUrl: tenant.baseUrl,
      displayUrl: tenant.baseUrl,
      productType: 'confluence',
      description: 'Atlassian Confluence (devhost)',
      eventType: event,
    };
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `JWT ${signInstall(store.keys, tenant, url, addonBaseUrl)}` },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`devhost: POST /${event} answered ${res.status}: ${text.slice(0, 300)}`);
  }

  async function installTenant(t: DevTenant): Promise<DevTenant> {
    // A reinstall gets a new secret; it replaces the old one only once the add-on has accepted it.
    const next: DevTenant = { ...t, sharedSecret: newSharedSecret(), installed: true };
    await postLifecycle(next, 'installed');
    store.upsertTenant(next);
    logger.info({ clientKey: next.clientKey }, 'devhost: installed');
    return next;
  }

  async function uninstallTenant(clientKey: string): Promise<void> {
    const t = tenantOf(clientKey);
    await postLifecycle(t, 'uninstalled');
    store.upsertTenant({ ...t, installed: false });
    logger.info({ clientKey }, 'devhost: uninstalled');
  }

  return { tenantOf, info, installTenant, uninstallTenant };
}
