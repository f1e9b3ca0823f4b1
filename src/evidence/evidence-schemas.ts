import { z } from 'zod';
import { spaceKeySchema } from '../confluence/confluence-ids';
import { parseEvidenceTime } from './evidence-time';

/** `label`: the bound as people see it on the Evidence tab; the API parameter follows in parentheses. */
export const periodBound = (label: string) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .max(40)
      .transform((v, ctx) => {
        const d = parseEvidenceTime(v);
        if (!d) {
          ctx.addIssue({ code: 'custom', message: `${label} must be an ISO date (YYYY-MM-DD) or date-time with a time zone` });
          return z.NEVER;
        }
        return d;
      })
      .optional(),
  );

/** `?from=&to=` of the export routes: events recorded at or after `from` and before `to`. */
export const exportQuery = z
  .object({ from: periodBound('The start date (from)'), to: periodBound('The end date (to)'), jwt: z.string().optional() })
  .strict()
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'The start date (from) must be before the end date (to)' });

export const spaceParams = z.object({ spaceKey: spaceKeySchema('spaceKey is not a space key') }).strict();

export const linkBody = z
  .object({
    format: z.enum(['csv', 'zip'], { message: 'format must be csv or zip' }).default('zip'),
    from: periodBound('The start date (from)'),
    to: periodBound('The end date (to)'),
  })
  .strict()
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'The start date (from) must be before the end date (to)' });

export const downloadQuery = z.object({ token: z.string().min(10).max(4000) }).strict();
