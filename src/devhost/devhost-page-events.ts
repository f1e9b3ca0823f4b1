/** Page changes and the webhooks Confluence sends for them (to installed tenants only), with a record of what was sent. */
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Descriptor } from './devhost-api';
import { replaceMacroParams } from './devhost-macros';
import { ACCOUNT } from './devhost-seed';
import { DevhostError, DevhostStore } from './devhost-state';
import type { DevTenant } from './devhost-types';
import { buildPageWebhook, PageWebhookEvent, sendWebhook, WebhookDelivery, WebhookResult } from './devhost-webhooks';

export function createPageEvents(opts: {
  store: DevhostStore;
  descriptor: Descriptor;
  addonBaseUrl: string;
  logger: Logger;
  clock: Clock;
  tenantOf(clientKey?: string): DevTenant;
}) {
  const { store, descriptor, addonBaseUrl, logger, clock, tenantOf } = opts;
  const webhooksSent: WebhookResult[] = [];

  async function deliver(event: PageWebhookEvent, pageId: string, as: string, clientKey?: string): Promise<WebhookResult | null> {
    const tenant = tenantOf(clientKey);
    if (!tenant.installed) return null;
    const d = buildWebhook(event, pageId, { as, clientKey });
    return d ? send(d) : null;
  }

  function buildWebhook(event: PageWebhookEvent, pageId: string, o: { as?: string; clientKey?: string } = {}): WebhookDelivery | null {
    const page = store.state.pages.find((p) => p.id === pageId);
    if (!page) throw new DevhostError(404, `no page ${pageId}`);
    return buildPageWebhook({
      store,
      descriptor,
      addonBaseUrl,
      tenant: tenantOf(o.clientKey),
      event,
      page,
      userAccountId: o.as ?? store.current(page).authorId,
      now: clock.now(),
    });
  }

  async function send(d: WebhookDelivery): Promise<WebhookResult> {
    const result = await sendWebhook(d, tenantOf(d.clientKey), addonBaseUrl);
    webhooksSent.push(result);
    if (webhooksSent.length > 200) webhooksSent.shift();
    logger.info({ event: d.event, clientKey: d.clientKey, status: result.status }, 'devhost: webhook sent');
    return result;
  }

  async function editPage(pageId: string, change: { body?: string; title?: string; as: string; clientKey?: string }) {
    const v = store.editPage(pageId, change);
    const webhook = await deliver('page_updated', pageId, change.as, change.clientKey);
    return { version: v.number, webhook };
  }

  const statusChange = (status: 'current' | 'trashed' | 'removed', event: PageWebhookEvent) =>
    async (pageId: string, o: { as?: string; clientKey?: string } = {}) => {
      const as = o.as ?? ACCOUNT.spaceAdmin;
      // A removed page is gone: build the webhook while its data is still there.
      const d = status === 'removed' && tenantOf(o.clientKey).installed ? buildWebhook(event, pageId, { as, clientKey: o.clientKey }) : null;
      store.setStatus(pageId, status);
      if (status === 'removed') return d ? send(d) : null;
      return deliver(event, pageId, as, o.clientKey);
    };

  return {
    webhooksSent,
    buildWebhook,
    send,
    editPage,
    async saveMacro(pageId: string, macroId: string, params: Record<string, string>, as: string) {
      const cur = store.current(store.pageOrThrow(pageId));
      const body = replaceMacroParams(cur.body, macroId, params);
      if (body === null) throw new DevhostError(404, `page ${pageId} has no macro ${macroId}`);
      return editPage(pageId, { body, as });
    },
    trashPage: statusChange('trashed', 'page_trashed'),
    restorePage: statusChange('current', 'page_restored'),
    removePage: statusChange('removed', 'page_removed'),
    async movePage(pageId: string, spaceKey: string, o: { as?: string; clientKey?: string } = {}) {
      store.movePage(pageId, spaceKey);
      return deliver('page_moved', pageId, o.as ?? ACCOUNT.spaceAdmin, o.clientKey);
    },
  };
}
