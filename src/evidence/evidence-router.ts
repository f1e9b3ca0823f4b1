import { Router, Request, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { contextJwt, requireUser } from '../confluence/connect-auth';
import { asyncHandler, parseInput } from '../lib/http';
import type { Logger } from '../lib/logger';
import type { EvidenceLinks } from './evidence-links';
import type { ExportLimiter } from './export-limits';
import { downloadQuery, exportQuery, linkBody, spaceParams } from './evidence-schemas';
import type { EvidenceFormat, EvidenceService, PreparedExport } from './evidence-service';

const CONTENT_TYPE: Record<EvidenceFormat, string> = { csv: 'text/csv; charset=utf-8', zip: 'application/zip' };

interface RouterDeps {
  addon: AddOn;
  service: EvidenceService;
  links: EvidenceLinks;
  logger: Logger;
  limiter: ExportLimiter;
  stallMs: number;
}

/**
 * Evidence exports: the CSV and the zip pack of a space (space admins, or as the space policy says) or of
 * the whole site (site admins), with a context JWT; and short-lived signed links for iframe downloads.
 */
export function createEvidenceRouter(opts: RouterDeps): Router {
  const { addon, service, links } = opts;
  const router = Router();

  for (const format of ['csv', 'zip'] as const) {
    router.get(
      `/api/spaces/:spaceKey/evidence.${format}`,
      ...contextJwt(addon),
      asyncHandler(async (req, res) => {
        const p = requireUser(req);
        const { spaceKey } = parseInput(spaceParams, req.params);
        const q = parseInput(exportQuery, req.query);
        await send(opts, res, await service.exportFor(p, { spaceKey, from: q.from ?? null, to: q.to ?? null }, format));
      }),
    );
    router.get(
      `/api/evidence.${format}`,
      ...contextJwt(addon),
      asyncHandler(async (req, res) => {
        const p = requireUser(req);
        const q = parseInput(exportQuery, req.query);
        await send(opts, res, await service.exportFor(p, { spaceKey: null, from: q.from ?? null, to: q.to ?? null }, format));
      }),
    );
  }

  router.post('/api/spaces/:spaceKey/evidence-links', ...contextJwt(addon), mintLink(opts, (req) => parseInput(spaceParams, req.params).spaceKey));
  router.post('/api/evidence-links', ...contextJwt(addon), mintLink(opts, () => null));

  /** The signed link itself: no JWT (a browser download carries none); the token is the credential. */
  router.get(
    '/evidence/download',
    asyncHandler(async (req, res) => {
      const { token } = parseInput(downloadQuery, req.query);
      const link = links.read(token);
      // Permissions may have changed since the link was made: asked again (answers are cached briefly).
      await send(opts, res, await service.exportFor({ clientKey: link.clientKey, accountId: link.accountId }, link.filter, link.format));
    }),
  );

  return router;
}

/**
 * Streams the export; a client that goes away, or stops reading for `stallMs`, aborts the query and
 * releases its connection. Errors before the first byte are JSON.
 */
async function send(opts: RouterDeps, res: Response, exp: PreparedExport): Promise<void> {
  const { logger, limiter, stallMs } = opts;
  const { user, filter, format } = exp;
  const { clientKey } = user;
  const release = limiter.acquire(clientKey, user.accountId);
  const abort = new AbortController();
  res.on('close', () => {
    release();
    if (!res.writableFinished) abort.abort();
  });
  // Nothing moved on the socket for this long. With output waiting to be written, the client stopped
  // reading: ending the socket ends the export. Without, the wait is ours (a busy database): wait again.
  res.setTimeout(stallMs, () => {
    if (!res.writableNeedDrain) {
      res.setTimeout(stallMs);
      return;
    }
    logger.info({ clientKey, spaceKey: filter.spaceKey, format }, 'evidence export ended: the client stopped reading');
    res.destroy();
  });
  res.status(200);
  res.setHeader('Content-Type', CONTENT_TYPE[format]);
  res.setHeader('Content-Disposition', `attachment; filename="${exp.fileName}"`);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  try {
    const summary = await exp.write(res, { signal: abort.signal });
    logger.info({ clientKey, spaceKey: filter.spaceKey, format, rows: summary.rows, lastSeq: summary.lastSeq }, 'evidence exported');
  } catch (err) {
    if (abort.signal.aborted) {
      logger.info({ clientKey, spaceKey: filter.spaceKey, format }, 'evidence export stopped: the client went away');
      return;
    }
    if (!res.headersSent) {
      for (const h of ['Content-Type', 'Content-Disposition', 'Cache-Control']) res.removeHeader(h);
      throw err;
    }
    logger.error({ clientKey, err: { name: (err as Error).name, message: (err as Error).message } }, 'evidence export failed mid-stream');
    res.destroy();
  }
}

/** Mints a short-lived signed download link of the export of `spaceOf(req)` (null: the site). */
function mintLink(opts: RouterDeps, spaceOf: (req: Request) => string | null) {
  const { service, links } = opts;
  return asyncHandler(async (req, res) => {
    const p = requireUser(req);
    const spaceKey = spaceOf(req);
    const body = parseInput(linkBody, req.body ?? {});
    // A link is made only of an export its maker may have now (the download asks again).
    const exp = await service.exportFor(p, { spaceKey, from: body.from ?? null, to: body.to ?? null }, body.format);
    const { token, expiresAt } = links.create({ clientKey: p.clientKey, accountId: p.accountId, filter: exp.filter, format: exp.format });
    const url = `${req.app.locals.localBaseUrl ?? ''}/evidence/download?token=${encodeURIComponent(token)}`;
    res.status(201).json({ url, expiresAt: expiresAt.toISOString() });
  });
}
