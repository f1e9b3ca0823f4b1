import type { AddOn } from 'atlassian-connect-express';
import type { Logger } from '../lib/logger';
import type { PageEventsService } from './page-events-service';
import { PAGE_EVENTS } from './page-events-store';

export { PAGE_EVENTS };


/**
 * ACE mounts one JWT-verified POST route per descriptor webhook and emits the event here after
 * answering 204, so Confluence never sees our errors: the inbox stores each delivery before acting.
 */
export function registerWebhooks(opts: { addon: AddOn; logger: Logger; pageEvents: PageEventsService }): void {
  for (const event of PAGE_EVENTS) {
    opts.addon.on(event, (_name: string, body: unknown, req: { context?: { clientKey?: string } }) => {
      const clientKey = req.context?.clientKey;
      if (!clientKey) {
        opts.logger.error({ event }, 'webhook without an authenticated clientKey ignored');
        return;
      }
      void opts.pageEvents.receive(clientKey, event, body);
    });
  }
}
