import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { contextJwt, requireUser } from '../confluence/connect-auth';
import { TooManyRequestsError } from '../lib/errors';
import { asyncHandler, parseInput } from '../lib/http';
import { spaceKeyParams } from '../spaces/spaces-schemas';
import type { CalendarService } from './calendar-service';
import { calendarFileParams } from './calendar-schemas';
import { parseFeedFileName } from './calendar-token';

/**
 * Reads of one feed per minute: calendar clients poll every few minutes to hours. Counted per feed, not per
 * address: Google and Microsoft fetch every subscription of every customer from a few shared addresses.
 * Requests for names that cannot be a feed are counted per client address.
 */
const FEED_READS_PER_MINUTE = 30;

/**
 * The space admin's API for the calendar subscription (context JWT, space admins only) and the feed itself:
 * `GET /calendar/<secret>.ics`, no JWT (calendar clients cannot send one), rate limited per feed.
 */
export function createCalendarRouter(opts: { addon: AddOn; service: CalendarService }): Router {
  const router = Router();
  addAdminRoutes(router, opts.addon, opts.service);
  addFeedRoute(router, opts.service);
  return router;
}

/** Status, create or replace, configure and revoke: context JWT, space admins only. */
function addAdminRoutes(router: Router, addon: AddOn, service: CalendarService): void {
  const base = '/api/spaces/:spaceKey/calendar-feed';

  router.get(
    base,
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      res.json(await service.status(p, spaceKey));
    }),
  );

  router.post(
    base,
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      // The URL is in this answer only: nobody (proxies included) keeps a copy.
      res.status(201).set('Cache-Control', 'no-store').json(await service.create(p, spaceKey, req.body));
    }),
  );

  router.put(
    base,
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      res.json(await service.configure(p, spaceKey, req.body));
    }),
  );

  router.delete(
    base,
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      await service.revoke(p, spaceKey);
      res.status(204).end();
    }),
  );

}

/** The feed: no JWT, the URL's secret is the credential; rate limited per feed. */
function addFeedRoute(router: Router, service: CalendarService): void {
  const feedLimit = rateLimit({
    windowMs: 60_000,
    limit: FEED_READS_PER_MINUTE,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => {
      const credentials = typeof req.params.file === 'string' ? parseFeedFileName(req.params.file) : null;
      return credentials ? `feed:${credentials.feedId}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    // The address only counts names that cannot be a feed (refused without a query), so production's
    // `trust proxy` (app.ts) and a forged X-Forwarded-For change nothing that matters: no console warnings.
    validate: { trustProxy: false, xForwardedForHeader: false },
    handler: (_req, _res, next) => next(new TooManyRequestsError('This calendar was asked for too often: try again in a minute.')),
  });

  router.get(
    '/calendar/:file',
    feedLimit,
    asyncHandler(async (req, res) => {
      const { file } = parseInput(calendarFileParams, req.params);
      const ics = await service.calendar(file);
      // A secret URL: no shared cache keeps it; the client asks again when it refreshes.
      res.status(200).set('Cache-Control', 'private, no-store').type('text/calendar; charset=utf-8').send(ics);
    }),
  );
}
