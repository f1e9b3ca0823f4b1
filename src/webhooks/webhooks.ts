import type { AddOn } from 'atlassian-connect-express';
import type { Router } from 'express';
import { asyncHandler } from '../lib/http';
import type { Logger } from '../lib/logger';
import type { PageEventsService } from './page-events-service';
import { PAGE_EVENTS, PageEventName } from './page-events-store';

export { PAGE_EVENTS };

/**
 * One JWT-verified POST route per descriptor webhook, on `router`, which app.ts mounts before ACE's own
 * webhook routes: ACE answers 204 before its listeners run, so a delivery that was not stored was acknowledged
 * anyway. Here the delivery is stored in the inbox first; 204 then (stored, or a duplicate); a payload that
 * cannot be used is a 400 and is not stored; a storage failure is a 503 (both through the error middleware). A sender that retries (Jira does on 5xx) delivers it again; Confluence's webhooks are
 * not documented to retry ("Jira webhooks support retries", developer.atlassian.com/platform/marketplace/
 * cloud-fortified-apps-program-webhook-delivery-success-rate), so the service holds a delivery it could not
 * store and stores it itself once the database is back (PageEventsService.storeHeld); one lost anyway (the
 * process stopped) is caught up when the macro is next rendered or decided on. Handling follows in the background.
 */
export function registerWebhooks(opts: { addon: AddOn; router: Router; logger: Logger; pageEvents: PageEventsService }): void {
  const webhooks = (opts.addon.descriptor as { modules?: { webhooks?: Array<{ event: string; url: string }> } }).modules?.webhooks ?? [];
  for (const { event, url } of webhooks) {
    if (!(PAGE_EVENTS as readonly string[]).includes(event)) continue;
    opts.router.post(
      url,
      opts.addon.authenticate(),
      asyncHandler(async (req, res) => {
        const clientKey = (req as { context?: { clientKey?: string } }).context?.clientKey;
        if (!clientKey) {
          opts.logger.error({ event }, 'webhook without an authenticated clientKey ignored');
          res.status(204).end();
          return;
        }
        await opts.pageEvents.receive(clientKey, event as PageEventName, req.body);
        // As ACE's own route would: listeners of the add-on's webhook events still hear of the delivery.
        opts.addon.emit(event, event, req.body, req);
        res.status(204).end();
      }),
    );
  }
}
