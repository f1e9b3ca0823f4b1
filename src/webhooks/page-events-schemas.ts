import { z } from 'zod';
import { InputError } from '../lib/errors';
import type { NewPageEvent, PageEventName } from './page-events-store';

/**
 * Confluence's page webhook body (CONNECT.md). Only the fields we use are checked; Confluence adds
 * fields over time, so unknown ones are kept in the stored payload rather than refused.
 */
const pageWebhookSchema = z.object({
  page: z.object({
    id: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).optional(),
    idAsString: z.string().regex(/^\d+$/, 'page.idAsString must be a numeric id').optional(),
    spaceKey: z.string().optional(),
    title: z.string().optional(),
    version: z.number().int().positive().optional(),
  }),
  userAccountId: z.string().min(1).optional(),
  timestamp: z.number().int().nonnegative(),
});

/** Validates a webhook body and derives what the inbox stores. Throws InputError when it is unusable. */
export function parsePageWebhook(event: PageEventName, body: unknown): NewPageEvent & { userAccountId: string | null } {
  const parsed = pageWebhookSchema.safeParse(body);
  if (!parsed.success) {
    throw new InputError(`${event} webhook: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  const { page, timestamp, userAccountId } = parsed.data;
  // Newer payloads carry the id as a string; older ones only as a number (which may lose precision).
  const pageId = page.idAsString ?? (page.id !== undefined ? String(page.id) : undefined);
  if (!pageId) throw new InputError(`${event} webhook: page.idAsString is missing`);
  const version = page.version ?? null;
  if (event === 'page_updated' && version === null) throw new InputError('page_updated webhook: page.version is missing');
  return {
    event,
    pageId,
    pageVersion: version,
    eventAt: new Date(timestamp),
    dedupeKey: `${event}:${pageId}:${version ?? '-'}:${timestamp}`,
    payload: body as Record<string, unknown>,
    userAccountId: userAccountId ?? null,
  };
}
