import { z } from 'zod';
import { contentIdSchema } from '../confluence/confluence-ids';
import { safeText } from '../lib/safe-text';
import { MACRO_PARAMETER_SCHEMAS, MAX_VERSION } from './macro-parameters';

export { macroAfter, macroTitle } from './macro-parameters';

/** The standard query parameters Confluence adds to every module URL (context parameters docs). */
const CONNECT_PARAMS = {
  jwt: z.string().optional(),
  xdm_e: z.string().optional(),
  xdm_c: z.string().optional(),
  cp: z.string().optional(),
  lic: z.string().optional(),
  cv: z.string().optional(),
};

/** The macro iframe's query: parameters exactly as the descriptor's URL template names them. */
export const macroQuery = z
  .object({
    pageId: contentIdSchema(),
    pageVersion: z.coerce.number().int().min(1, 'pageVersion must be at least 1').max(MAX_VERSION, 'pageVersion is not a page version'),
    // Confluence's `page.type`: "page" or "blogpost" (empty where it cannot bind one: a page then).
    pageType: z.preprocess((v) => (v === '' || v === undefined ? 'page' : v), z.enum(['page', 'blogpost'], { message: 'pageType must be page or blogpost' })),
    spaceKey: safeText({ min: 1, max: 255, name: 'spaceKey' }),
    macroId: safeText({ min: 1, max: 255, name: 'macroId' }),
    ...MACRO_PARAMETER_SCHEMAS,
    ...CONNECT_PARAMS,
    'output.type': z.string().optional(),
  })
  .passthrough();

/** The static render's query (the descriptor's `renderModes.default.url`). */
export const staticMacroQuery = z
  .object({
    pageId: contentIdSchema(),
    pageVersion: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(MAX_VERSION).optional()),
    pageType: z.string().max(20).optional(),
    spaceKey: safeText({ max: 255, name: 'spaceKey' }).optional(),
    macroId: safeText({ min: 1, max: 255, name: 'macroId' }),
    outputType: z.string().max(40).optional(),
    ...CONNECT_PARAMS,
  })
  .passthrough();

export const workflowPathParams = z.object({
  pageId: contentIdSchema(),
  macroId: safeText({ min: 1, max: 255, name: 'macroId' }),
});

export const decisionBody = z
  .object({
    decision: z.enum(['approve', 'reject'], { message: 'decision must be "approve" or "reject"' }),
    comment: safeText({ max: 4000, name: 'comment' }).default(''),
    pageVersion: z.number({ message: 'pageVersion must be a number' }).int().min(1).max(MAX_VERSION, 'pageVersion is not a page version'),
    /** A delegate deciding for someone out of office names them (issue 16). */
    onBehalfOf: z
      .string({ message: 'onBehalfOf must be an Atlassian account ID' })
      .min(1, 'onBehalfOf must be an Atlassian account ID')
      .max(128, 'onBehalfOf must be an Atlassian account ID')
      .regex(/^[A-Za-z0-9:_-]+$/, 'onBehalfOf must be an Atlassian account ID')
      .nullable()
      .optional(),
  })
  .strict();

/**
 * The `Idempotency-Key` header of a decision (optional): what a client sends again when it retries the same
 * click. Printable ASCII, at most 200 characters (a UUID is what the macro sends).
 */
export const idempotencyKeyHeader = z
  .string()
  .min(1, 'Idempotency-Key must not be empty')
  .max(200, 'Idempotency-Key must be at most 200 characters')
  .regex(/^[\x20-\x7E]+$/, 'Idempotency-Key must be printable ASCII')
  .optional()
  .transform((v) => v ?? null);

export const pickerQuery = z.object({ q: safeText({ max: 100, name: 'q' }).trim().min(1, 'type at least one character') }).strict();

/** Each id is one REST call to Confluence: a request may name at most this many. */
const MAX_NAME_LOOKUPS = 50;
export const namesQuery = z
  .object({
    ids: safeText({ max: 4000, name: 'ids' })
      .transform((v) => [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))])
      .refine((ids) => ids.length <= MAX_NAME_LOOKUPS, `ids: at most ${MAX_NAME_LOOKUPS} accountIds per request`),
  })
  .strict();
