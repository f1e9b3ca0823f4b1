import { z } from 'zod';

/** POST (create or replace the URL) and PUT (change the setting) /api/spaces/:spaceKey/calendar-feed. */
export const calendarFeedBody = z
  .object({
    showTitles: z.boolean({ message: '"Include page titles in the calendar" must be true or false' }),
  })
  .strict();

/** The feed's path segment: checked for its shape in the service (anything else is an unknown address, 404). */
export const calendarFileParams = z.object({ file: z.string().max(200) }).strict();
