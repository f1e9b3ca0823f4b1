import { z } from 'zod';
import { spaceKeySchema } from '../confluence/confluence-ids';
import { periodBound } from '../evidence/evidence-schemas';

/** A period bound as the Evidence tab sends it (the export's own rule). */
const time = periodBound;

const ordered = (q: { from?: Date; to?: Date }) => !q.from || !q.to || q.from < q.to;
const ORDER = { message: 'The start date (from) must be before the end date (to)' };

/** `?from=&to=&download=1` of the report routes. */
export const reportQuery = z
  .object({
    from: time('The start date (from)'),
    to: time('The end date (to)'),
    download: z.enum(['0', '1'], { message: 'download must be 0 or 1' }).optional(),
    jwt: z.string().optional(),
  })
  .strict()
  .refine(ordered, ORDER);

/** The body asking for a link to the report (an iframe cannot open a page with its context JWT). */
export const reportLinkBody = z
  .object({ from: time('The start date (from)'), to: time('The end date (to)') })
  .strict()
  .refine(ordered, ORDER);

export const reportViewQuery = z
  .object({ token: z.string().min(10).max(4000), download: z.enum(['0', '1'], { message: 'download must be 0 or 1' }).optional() })
  .strict();

export const spaceParams = z.object({ spaceKey: spaceKeySchema('spaceKey is not a space key') }).strict();
