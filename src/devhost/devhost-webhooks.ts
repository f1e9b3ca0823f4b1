import { PAGE_EVENTS } from '../webhooks/page-events-store';
import type { DevhostStore } from './devhost-state';
import { signRequestJwt } from './devhost-jwt';
import type { DevPage, DevTenant } from './devhost-types';

/**
 * The content events the devhost sends: the ones Attest subscribes to (one list, from which the descriptor
 * check and the webhook router derive too); only those the descriptor names are sent.
 */
export const PAGE_WEBHOOK_EVENTS = PAGE_EVENTS;
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

/** The event for a page or a blog post: `page_updated` on a blog post is sent as `blog_updated`. */
export function eventFor(page: DevPage, event: PageWebhookEvent): PageWebhookEvent {
  const action = event.slice(event.indexOf('_') + 1);
  return `${page.type === 'blogpost' ? 'blog' : 'page'}_${action}` as PageWebhookEvent;
}

/**
 * The content object of Confluence's current webhooks: ids as strings (`id` and `idAsString`), the space
 * by key and id; optional fields may be null, and the add-on must accept that.
 */
function pageObject(store: DevhostStore, page: DevPage, tenant: DevTenant): Record<string, unknown> {
  const first = page.versions[0];
  const cur = store.current(page);
  return {
    id: page.id,
    idAsString: page.id,
    spaceKey: page.spaceKey,
    spaceId: Number(store.space(page.spaceKey)?.id ?? 0),
    title: cur.title,
    version: cur.number,
    creatorAccountId: first.authorId,
    creationDate: Date.parse(first.createdAt),
    modificationDate: Date.parse(cur.createdAt),
    lastModifierAccountId: cur.authorId,
    contentType: page.type,
    self: `${tenant.baseUrl}/spaces/${page.spaceKey}/${page.type === 'blogpost' ? 'blog' : 'pages'}/${page.id}`,
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
  const event = eventFor(opts.page, opts.event);
  const hook = (opts.descriptor.modules?.webhooks ?? []).find((w) => w.event === event);
  if (!hook) return null;
  const body: Record<string, unknown> = {
    [opts.page.type === 'blogpost' ? 'blog' : 'page']: pageObject(opts.store, opts.page, opts.tenant),
    userAccountId: opts.userAccountId,
    accountType: 'customer',
    suppressNotifications: false,
    timestamp: opts.now.getTime(),
  };
  if (event.endsWith('_updated')) body.updateTrigger = 'edit_page';
  return { event, clientKey: opts.tenant.clientKey, url: `${opts.addonBaseUrl}${hook.url}`, body };
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
