import { Router, Request, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { contextJwt, requireUser } from '../confluence/connect-auth';
import type { EvidenceLinks } from '../evidence/evidence-links';
import { asyncHandler, parseInput } from '../lib/http';
import type { Logger } from '../lib/logger';
import { reportLinkBody, reportQuery, reportViewQuery, spaceParams } from './report-schemas';
import type { ReportRequest, ReportService } from './report-service';

/** The report runs no script and loads nothing: its response says so too, whoever opens it. */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The SOC 2 report: of a space (whoever may export its evidence) or without one (every space for site admins, the
 * spaces a person administers for anyone else), as HTML to
 * view or download; with a context JWT, or through a short-lived link the Evidence tab opens in a new tab.
 */
export function createReportRouter(opts: {
  addon: AddOn;
  service: ReportService;
  links: EvidenceLinks<'html'>;
  logger: Logger;
}): Router {
  const { addon, service, links, logger } = opts;
  const router = Router();

  const send = (res: Response, req: ReportRequest, download: boolean) => sendReport(res, req, download, service, logger);

  router.get(
    '/api/spaces/:spaceKey/report.html',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceParams, req.params);
      const q = parseInput(reportQuery, req.query);
      await send(res, { clientKey: p.clientKey, ...(await service.scopeFor(p, spaceKey)), from: q.from ?? null, to: q.to ?? null }, q.download === '1');
    }),
  );
  router.get(
    '/api/report.html',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const q = parseInput(reportQuery, req.query);
      await send(res, { clientKey: p.clientKey, ...(await service.scopeFor(p, null)), from: q.from ?? null, to: q.to ?? null }, q.download === '1');
    }),
  );

  const mintLink = (spaceOf: (req: Request) => string | null) => linkMinter(spaceOf, { service, links });
  router.post('/api/spaces/:spaceKey/report-links', ...contextJwt(addon), mintLink((req) => parseInput(spaceParams, req.params).spaceKey));
  router.post('/api/report-links', ...contextJwt(addon), mintLink(() => null));

  /** The link itself: no JWT (a new tab carries none); the token is the credential, for one minute. */
  router.get(
    '/report/view',
    asyncHandler(async (req, res) => {
      const q = parseInput(reportViewQuery, req.query);
      const link = links.read(q.token);
      // Permissions may have changed since the link was made: ask again (answers are cached briefly).
      const user = { clientKey: link.clientKey, accountId: link.accountId };
      const { spaceKey, from, to } = link.filter;
      await send(res, { clientKey: link.clientKey, ...(await service.scopeFor(user, spaceKey)), from, to }, q.download === '1');
    }),
  );

  return router;
}

async function sendReport(res: Response, req: ReportRequest, download: boolean, service: ReportService, logger: Logger): Promise<void> {
  const started = Date.now();
  const body = await service.report(req);
  logger.info({ clientKey: req.clientKey, spaceKey: req.spaceKey, ms: Date.now() - started }, 'report made');
  res.status(200);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Disposition', `${download ? 'attachment' : 'inline'}; filename="${service.fileName(req)}"`);
  res.setHeader('Content-Security-Policy', REPORT_CSP);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.send(body);
}

/** POST …/report-links: a one-minute link to the report for a new tab, after the same permission check. */
function linkMinter(
  spaceOf: (req: Request) => string | null,
  d: { service: ReportService; links: EvidenceLinks<'html'> },
) {
  const { service, links } = d;
  return asyncHandler(async (req, res) => {
    const p = requireUser(req);
    const spaceKey = spaceOf(req);
    const body = parseInput(reportLinkBody, req.body ?? {});
    // A link is made only of a report its maker may see now (the link's view asks again).
    await service.scopeFor(p, spaceKey);
    const { token, expiresAt } = links.create({
      clientKey: p.clientKey,
      accountId: p.accountId,
      filter: { spaceKey, from: body.from ?? null, to: body.to ?? null },
      format: 'html',
    });
    const url = `${req.app.locals.localBaseUrl ?? ''}/report/view?token=${encodeURIComponent(token)}`;
    res.status(201).json({ url, downloadUrl: `${url}&download=1`, expiresAt: expiresAt.toISOString() });
  });
}
