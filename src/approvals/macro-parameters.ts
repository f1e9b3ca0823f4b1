import { z } from 'zod';
import { safeText } from '../lib/safe-text';

/*
 * The Approvals macro's own parameters — what an author sets in the macro editor — in one place (issue 14 §5).
 * `MACRO_PARAMETER_SCHEMAS` is the list: the macro's query schema (approvals-schemas.ts) spreads it, the route
 * takes the values with `macroParameterValues`, and macro-parameters.test.ts holds the descriptor
 * (atlassian-connect.json: the macro's `parameters` and its URL template), the macro editor's saved fields and
 * the README's parameter table to it. docs/architecture.md ("A macro parameter") lists what a new one still
 * needs by hand (the workflow's column, its audit field, the view).
 */

const emptyToNull = (v: unknown) => (v === '' || v === undefined ? null : v);
/** Page versions are PostgreSQL integers. */
export const MAX_VERSION = 2_147_483_647;
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

/** An optional one-line text as people see it: trimmed, at most 100 characters, no control characters (NUL included). */
const oneLine = (name: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.trim() : v),
    z.preprocess(
      emptyToNull,
      safeText({ max: 100, name })
        .refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t), `${name} must not contain control characters (such as line breaks)`)
        .nullable(),
    ),
  );

/** The macro's optional title. */
export const macroTitle = oneLine('Title');

/** The macro's optional `after`: the title of the stage it waits for, under the same rules as a title. */
export const macroAfter = oneLine('After');

const rule = z.preprocess(emptyToNull, z.enum(['all', 'any', 'quorum'], { message: 'Rule must be all, any or quorum' }).nullable());

const due = z.preprocess(
  emptyToNull,
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'Due date must be an ISO date, YYYY-MM-DD')
    // Year 0 parses in JavaScript but PostgreSQL has no such year.
    .refine((d) => d >= '0001' && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'Due date is not a real date')
    .nullable(),
);

/** Each parameter's schema, in the descriptor's order (an empty value is "not set": null or an empty list). */
export const MACRO_PARAMETER_SCHEMAS = {
  title: macroTitle,
  after: macroAfter,
  approvers: list,
  groups: list,
  rule,
  quorum: positiveInt('Quorum', 1000),
  rejections: positiveInt('Rejections that reject', 1000),
  due,
  review: positiveInt('Review interval (days)', 3650),
};

export type MacroParameterName = keyof typeof MACRO_PARAMETER_SCHEMAS;
export const MACRO_PARAMETERS = Object.keys(MACRO_PARAMETER_SCHEMAS) as MacroParameterName[];
export type MacroParameterValues = { [K in MacroParameterName]: z.output<(typeof MACRO_PARAMETER_SCHEMAS)[K]> };

/** The macro's parameter values out of its parsed query (which also holds the page, space and Connect's). */
export function macroParameterValues(query: MacroParameterValues): MacroParameterValues {
  return Object.fromEntries(MACRO_PARAMETERS.map((name) => [name, query[name]])) as MacroParameterValues;
}
