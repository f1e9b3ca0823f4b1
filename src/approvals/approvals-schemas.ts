import { z } from 'zod';
import { contentIdSchema } from '../confluence/confluence-ids';
import { safeText } from '../lib/safe-text';

const emptyToNull = (v: unknown) => (v === '' || v === undefined ? null : v);
/** Page versions are PostgreSQL integers. */
const MAX_VERSION = 2_147_483_647;
const list = safeText({ max: 4000, name: 'the list' })
  .optional()
  .transform((v) =>
    [...new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean))],
  );
const positiveInt = (name: string, max: number) =>
  z.preprocess(
    emptyToNull,
    z.coerce.number({ message: `${name} must be a number` }).int(`${name} must be a whole number`).min(1, `${name} must be at least 1`).max(max, `${name} must be at most ${max}`).nullable(),
  );

/** The macro's optional title as people see it: trimmed, at most 100 characters, no control characters. */
export const macroTitle = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim() : v),
  z.preprocess(
    emptyToNull,
    safeText({ max: 100, name: 'Title' })
      // One line of plain text: no line breaks or other control characters (NUL included).
      .refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t), 'Title must not contain control characters (such as line breaks)')
      .nullable(),
  ),
);

/** The macro's optional `after`: the title of the stage it waits for, under the same rules as a title. */
export const macroAfter = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim() : v),
  z.preprocess(
    emptyToNull,
    safeText({ max: 100, name: 'After' })
      .refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t), 'After must not contain control characters (such as line breaks)')
      .nullable(),
  ),
);

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
    title: macroTitle,
    after: macroAfter,
    approvers: list,
    groups: list,
    rule: z.preprocess(emptyToNull, z.enum(['all', 'any', 'quorum'], { message: 'Rule must be all, any or quorum' }).nullable()),
    quorum: positiveInt('Quorum', 1000),
    rejections: positiveInt('Rejections that reject', 1000),
    due: z.preprocess(
      emptyToNull,
      z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/, 'Due date must be an ISO date, YYYY-MM-DD')
        // Year 0 parses in JavaScript but PostgreSQL has no such year.
        .refine((d) => d >= '0001' && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'Due date is not a real date')
        .nullable(),
    ),
    review: positiveInt('Review interval (days)', 3650),
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
