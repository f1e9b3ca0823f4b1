import { z } from 'zod';

const emptyToNull = (v: unknown) => (v === '' || v === undefined ? null : v);
const list = z
  .string()
  .max(4000)
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
    z
      .string()
      .max(100, 'Title must be at most 100 characters')
      // eslint-disable-next-line no-control-regex
      .refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t), 'Title must not contain control characters (such as line breaks)')
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
    pageId: z.string().regex(/^\d{1,30}$/, 'pageId must be a Confluence page id'),
    pageVersion: z.coerce.number().int().min(1, 'pageVersion must be at least 1'),
    // Confluence's `page.type`: "page" or "blogpost" (empty where it cannot bind one: a page then).
    pageType: z.preprocess((v) => (v === '' || v === undefined ? 'page' : v), z.enum(['page', 'blogpost'], { message: 'pageType must be page or blogpost' })),
    spaceKey: z.string().min(1).max(255),
    macroId: z.string().min(1).max(255),
    title: macroTitle,
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
        .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'Due date is not a real date')
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
    pageId: z.string().regex(/^\d{1,30}$/, 'pageId must be a Confluence page id'),
    pageVersion: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).optional()),
    pageType: z.string().max(20).optional(),
    spaceKey: z.string().max(255).optional(),
    macroId: z.string().min(1).max(255),
    outputType: z.string().max(40).optional(),
    ...CONNECT_PARAMS,
  })
  .passthrough();

export const workflowPathParams = z.object({
  pageId: z.string().regex(/^\d{1,30}$/, 'pageId must be a Confluence page id'),
  macroId: z.string().min(1).max(255),
});

export const decisionBody = z
  .object({
    decision: z.enum(['approve', 'reject'], { message: 'decision must be "approve" or "reject"' }),
    comment: z.string().max(4000, 'comment must be at most 4000 characters').default(''),
    pageVersion: z.number({ message: 'pageVersion must be a number' }).int().min(1),
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

export const pickerQuery = z.object({ q: z.string().trim().min(1, 'type at least one character').max(100) }).strict();

/** Each id is one REST call to Confluence: a request may name at most this many. */
const MAX_NAME_LOOKUPS = 50;
export const namesQuery = z
  .object({
    ids: z
      .string()
      .max(4000)
      .transform((v) => [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))])
      .refine((ids) => ids.length <= MAX_NAME_LOOKUPS, `ids: at most ${MAX_NAME_LOOKUPS} accountIds per request`),
  })
  .strict();
