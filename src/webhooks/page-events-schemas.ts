import { z } from 'zod';
import { contentIdSchema } from '../confluence/confluence-ids';
import { InputError } from '../lib/errors';
import { sanitiseDeep, unsafeTextPath } from '../lib/safe-text';
import { isUpdateEvent, NewPageEvent, PageEventName } from './page-events-store';

/**
 * Confluence's page webhook body (CONNECT.md). Only the fields we use are checked; Confluence adds
 * fields over time, so unknown ones are kept in the stored payload rather than refused.
 */
const numericId = contentIdSchema('must be a numeric id');
/** What the inbox columns hold: page versions are PostgreSQL integers, times JavaScript dates. */
const MAX_VERSION = 2_147_483_647;
const MAX_TIME_MS = 8_640_000_000_000_000;

const contentSchema = z
  .object({
    // A number in older payloads, a string in current ones; `idAsString` is the one to trust.
    id: z.union([z.number().int().nonnegative(), numericId]).nullish(),
    idAsString: numericId.nullish(),
    spaceKey: z.string().nullish(),
    spaceId: z.union([z.number(), z.string()]).nullish(),
    title: z.string().nullish(),
    version: z.number().int().positive().max(MAX_VERSION).nullish(),
    contentType: z.string().nullish(),
  })
  .passthrough();

/** Page events carry the content under `page`, blog post events under `blog`; any optional field may be null. */
const pageWebhookSchema = z
  .object({
    page: contentSchema.nullish(),
    blog: contentSchema.nullish(),
    // An account id that needed sanitising (below) is not one Confluence gave out.
    userAccountId: z.string().max(255).refine((v) => !v.includes('\uFFFD'), 'must be an account id').nullish(),
    accountType: z.string().nullish(),
    suppressNotifications: z.boolean().nullish(),
    updateTrigger: z.string().nullish(),
    timestamp: z.number().int().nonnegative().max(MAX_TIME_MS),
  })
  .passthrough();

/**
 * Validates a webhook body and derives what the inbox stores. Throws InputError when it is unusable.
 *
 * Strings in a signed payload are display data as often as identifiers (a title may hold a NUL that
 * Confluence itself accepted). PostgreSQL's jsonb cannot store a NUL or a lone surrogate, and refusing the
 * delivery would lose the event, which is worth more than the exact title: every NUL and lone surrogate
 * becomes U+FFFD before validation. Ids keep their strict patterns, so a sanitised id is still refused.
 */
export function parsePageWebhook(event: PageEventName, raw: unknown): NewPageEvent & { userAccountId: string | null } {
  const body = sanitiseDeep(raw, 16);
  if (unsafeTextPath(body, '', 16)) throw new InputError(`${event} webhook: the payload is nested too deeply`);
  const parsed = pageWebhookSchema.safeParse(body);
  if (!parsed.success) {
    throw new InputError(`${event} webhook: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  const { timestamp } = parsed.data;
  const field = event.startsWith('blog_') ? 'blog' : 'page';
  // Tolerate a payload that names blog content `page` (and the reverse): the event says what it is.
  const page = parsed.data[field] ?? parsed.data.page ?? parsed.data.blog;
  if (!page) throw new InputError(`${event} webhook: ${field} is missing`);
  // Newer payloads carry the id as a string; older ones only as a number (which may lose precision).
  const pageId = page.idAsString ?? (page.id !== undefined && page.id !== null ? String(page.id) : undefined);
  if (!pageId) throw new InputError(`${event} webhook: ${field}.idAsString is missing`);
  const version = page.version ?? null;
  if (isUpdateEvent(event) && version === null) throw new InputError(`${event} webhook: ${field}.version is missing`);
  const userAccountId = parsed.data.userAccountId || null;
  return {
    event,
    pageId,
    pageVersion: version,
    eventAt: new Date(timestamp),
    dedupeKey: `${event}:${pageId}:${version ?? '-'}:${timestamp}`,
    payload: body as Record<string, unknown>,
    userAccountId,
  };
}
