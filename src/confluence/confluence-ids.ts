/**
 * The shapes of Confluence's identifiers, one home for every schema that accepts them (URLs, bodies, webhooks,
 * app properties). Space keys: letters, digits, `_` and `-`, with a leading `~` for personal spaces
 * (docs/confluence-api.md); content ids: decimal digits (v2 returns them as strings).
 */
import { z } from 'zod';

export const SPACE_KEY_PATTERN = /^~?[A-Za-z0-9_-]{1,255}$/;
export const CONTENT_ID_PATTERN = /^\d{1,30}$/;

/** A space key, refused with `message` (named as the person sees the field). */
export const spaceKeySchema = (message = 'spaceKey must be a Confluence space key') => z.string().regex(SPACE_KEY_PATTERN, message);

/** A page or blog post id. */
export const contentIdSchema = (message = 'pageId must be a Confluence page id') => z.string().regex(CONTENT_ID_PATTERN, message);
