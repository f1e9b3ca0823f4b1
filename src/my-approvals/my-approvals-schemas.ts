import { z } from 'zod';

/** A calendar day, YYYY-MM-DD, that exists (2026-02-30 does not). */
const day = (label: string) =>
  z
    .string({ message: `${label} must be a date (YYYY-MM-DD)` })
    .regex(/^\d{4}-\d{2}-\d{2}$/, `${label} must be a date (YYYY-MM-DD)`)
    .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) === v, `${label} is not a day of the calendar`);

/** PUT /api/me/delegation — "Out of office": who decides for me, from which day through which day (UTC). */
export const delegationBody = z
  .object({
    delegate: z
      .string({ message: 'Delegate must be an Atlassian account ID' })
      .trim()
      .min(1, 'Choose a delegate')
      .max(128, 'Delegate must be an Atlassian account ID')
      .regex(/^[A-Za-z0-9:_-]+$/, 'Delegate must be an Atlassian account ID'),
    from: day('First day'),
    to: day('Last day'),
  })
  .strict()
  .transform((b) => ({ delegateId: b.delegate, startsOn: b.from, endsOn: b.to }));
