import type { AddOn } from 'atlassian-connect-express';
import type { Logger } from '../lib/logger';

export const PAGE_EVENTS = ['page_updated', 'page_trashed', 'page_restored', 'page_removed'] as const;

/**
 * ACE mounts one JWT-verified POST route per descriptor webhook and emits the event here after
 * answering 204. Until the page-events issue lands, events are only logged.
 */
export function registerWebhooks(opts: { addon: AddOn; logger: Logger }): void {
  for (const event of PAGE_EVENTS) {
    opts.addon.on(event, (_name: string, body: { page?: { idAsString?: string; id?: unknown; version?: unknown } }, req: { context?: { clientKey?: string } }) => {
      opts.logger.info(
        { event, clientKey: req.context?.clientKey, pageId: body?.page?.idAsString ?? String(body?.page?.id ?? ''), version: body?.page?.version },
        'webhook received',
      );
    });
  }
}
