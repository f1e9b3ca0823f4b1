import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { pageJwt, principalOf } from '../confluence/connect-auth';
import { asyncHandler } from '../lib/http';
import type { PageEventsService } from './page-events-service';
import { PAGE_EVENTS, PageEventName } from './page-events-store';

export { PAGE_EVENTS };

/**
 * One JWT-verified POST route per descriptor webhook, on a router the app mounts before ACE's own routes.
 * ACE's routes answer 204 before anything is stored, so a delivery that could not be stored was reported
 * as delivered and lost. Ours answer once the delivery is in the inbox: 204 stored (or a duplicate), 400 a
 * payload we cannot use, 503 the inbox could not take it. Processing runs after the answer; a failure
 * there stays in the inbox for the retry job.
 *
 * A 503 does not make Confluence send the event again: Atlassian documents retries for Jira webhooks only
 * ("Jira webhooks support retries", developer.atlassian.com/platform/marketplace/
 * cloud-fortified-apps-program-webhook-delivery-success-rate). It is still the true answer (a 2xx would say
 * the event was kept, and counts as delivered in Atlassian's delivery metric), and a lost update is caught
 * up when the macro next renders a newer signed version (ApprovalsService reconciles on render).
 */
export function mountWebhooks(router: Router, opts: { addon: AddOn; pageEvents: PageEventsService }): void {
  const hooks = (opts.addon.descriptor as { modules?: { webhooks?: Array<{ event: string; url: string }> } }).modules?.webhooks ?? [];
  for (const hook of hooks) {
    if (!(PAGE_EVENTS as readonly string[]).includes(hook.event)) continue;
    const event = hook.event as PageEventName;
    router.post(
      hook.url,
      ...pageJwt(opts.addon),
      asyncHandler(async (req, res) => {
        await opts.pageEvents.receive(principalOf(req).clientKey, event, req.body);
        res.status(204).end();
      }),
    );
  }
}
