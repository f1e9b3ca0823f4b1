import type { DevhostStore } from './devhost-state';
import { signRequestJwt } from './devhost-jwt';
import type { DevPage, DevTenant } from './devhost-types';

export const PAGE_WEBHOOK_EVENTS = ['page_updated', 'page_trashed', 'page_restored', 'page_removed'] as const;
export type PageWebhookEvent = (typeof PAGE_WEBHOOK_EVENTS)[number];

/** A webhook ready to send (or to send again: Confluence may deliver twice). */
export interface WebhookDelivery {
  event: PageWebhookEvent;
  clientKey: string;
  /** Absolute URL of the add-on's webhook route (from the descriptor). */
  url: string;
  body: Record<string, unknown>;
}

export interface WebhookResult {
  delivery: WebhookDelivery;
  status: number;
}

/** The `page` object of Confluence's page webhooks (ids: a number in `id`, the string in `idAsString`). */
function pageObject(store: DevhostStore, page: DevPage, tenant: DevTenant): Record<string, unknown> {
  const first = page.versions[0];
  const cur = store.current(page);
  return {
    id: Number(page.id),
    idAsString: page.id,
    spaceKey: page.spaceKey,
    title: cur.title,
    version: cur.number,
    creatorAccountId: first.authorId,
    lastModifierAccountId: cur.authorId,
    creationDate: Date.parse(first.createdAt),
    modificationDate: Date.parse(cur.createdAt),
    contentType: 'page',
    self: `${tenant.baseUrl}/spaces/${page.spaceKey}/pages/${page.id}`,
  };
}

export function buildPageWebhook(opts: {
  store: DevhostStore;
  descriptor: { modules?: { webhooks?: Array<{ event: string; url: string }> } };
  addonBaseUrl: string;
  tenant: DevTenant;
  event: PageWebhookEvent;
  page: DevPage;
  userAccountId: string;
  now: Date;
}): WebhookDelivery | null {
  const hook = (opts.descriptor.modules?.webhooks ?? []).find((w) => w.event === opts.event);
  if (!hook) return null;
  const body: Record<string, unknown> = {
    page: pageObject(opts.store, opts.page, opts.tenant),
    userAccountId: opts.userAccountId,
    timestamp: opts.now.getTime(),
  };
  if (opts.event === 'page_updated') {
    body.updateTrigger = 'edit_page';
    body.suppressNotifications = false;
  }
  return { event: opts.event, clientKey: opts.tenant.clientKey, url: `${opts.addonBaseUrl}${hook.url}`, body };
}

/** POSTs a webhook signed as Confluence signs them: HS256, iss = clientKey, qsh over `POST <path>`. */
export async function sendWebhook(delivery: WebhookDelivery, tenant: DevTenant, addonBaseUrl: string): Promise<WebhookResult> {
  const jwt = signRequestJwt({ tenant, method: 'POST', url: delivery.url, addonBaseUrl });
  const res = await fetch(delivery.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `JWT ${jwt}`, 'User-Agent': 'Atlassian Webhook HTTP Client (devhost)' },
    body: JSON.stringify(delivery.body),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return { delivery, status: res.status };
}
