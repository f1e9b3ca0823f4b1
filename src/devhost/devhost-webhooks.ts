import type { DevhostStore } from './devhost-state';
import { signRequestJwt } from './devhost-jwt';
import type { DevPage, DevTenant } from './devhost-types';

/**
 * Confluence's own content events (Atlassian's Connect webhook docs; shared/CONNECT.md): pages and blog posts
 * each have theirs, and there is no blog_moved. This is Confluence's list, not Attest's: it is kept apart from
 * the app's PAGE_EVENTS on purpose, and only the events the descriptor subscribes to are sent.
 */
export const PAGE_WEBHOOK_EVENTS = [
  'page_created',
  'page_updated',
  'page_trashed',
  'page_restored',
  'page_removed',
  'page_moved',
  'blog_created',
  'blog_updated',
  'blog_trashed',
  'blog_restored',
  'blog_removed',
] as const;
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
  // Confluence has no such event (a moved blog post sends none).
  if (!(PAGE_WEBHOOK_EVENTS as readonly string[]).includes(event)) return null;
  const hook = (opts.descriptor.modules?.webhooks ?? []).find((w) => w.event === event);
  if (!hook) return null;
  const body: Record<string, unknown> = {
    // Blog events carry the content under `blog` (our reading of Atlassian's examples, unconfirmed: the app
    // accepts `page` as well, so the devhost cannot make a test pass that a real payload would fail).
    [opts.page.type === 'blogpost' ? 'blog' : 'page']: pageObject(opts.store, opts.page, opts.tenant),
    userAccountId: opts.userAccountId,
    // The acting account's type, as the v1 user API names them (atlassian | app | customer). Current
    // payloads carry the field (issue 10's captures); the value for a site user is our reading, unconfirmed.
    accountType: 'atlassian',
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
