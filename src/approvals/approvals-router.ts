import { Router, Request, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { contextJwt, pageJwt, principalOf, requireUser } from '../confluence/connect-auth';
import { leanPageJwt, TenantLookup } from '../confluence/lean-page-jwt';
import { AppError } from '../lib/errors';
import { asyncHandler, parseInput } from '../lib/http';
import type { ApprovalsService, MacroParams, WorkflowView } from './approvals-service';
import { displayNames, macroModel, mentionedIds, staticModel, workflowJson } from './approvals-presenter';
import { macroParameterValues } from './macro-parameters';
import { decisionBody, idempotencyKeyHeader, macroQuery, namesQuery, pickerQuery, staticMacroQuery, workflowPathParams } from './approvals-schemas';

/**
 * The page version a verified context JWT says its iframe shows (`context.confluence.content`), when it
 * names this page; null when it names none (ACE keeps the verified claims' context on `req.context`).
 */
function viewedVersionOf(req: Request, pageId: string): number | null {
  const content = (req as unknown as { context?: { context?: { confluence?: { content?: { id?: unknown; version?: unknown } } } } })
    .context?.context?.confluence?.content;
  if (!content || String(content.id) !== pageId) return null;
  const version = Number(content.version);
  return Number.isInteger(version) && version > 0 ? version : null;
}

type RouterOpts = {
  addon: AddOn;
  service: ApprovalsService;
  confluence: ConfluenceClient;
  /** The macro's page JWT is checked against these (a cache invalidated by tenant changes); ACE's check without it. */
  tenants?: TenantLookup;
};

/** The signed macro parameters, as the service takes them. */
function macroParamsOf(q: ReturnType<typeof macroQuery.parse>): MacroParams {
  return {
    pageId: q.pageId,
    contentType: q.pageType,
    pageVersion: q.pageVersion,
    spaceKey: q.spaceKey,
    macroId: q.macroId,
    ...macroParameterValues(q),
  };
}

/** The request's query without its JWT (which changes on every page load): what a rendered view is kept under. */
function signedParametersOf(req: Request): string {
  const at = req.originalUrl.indexOf('?');
  const query = new URLSearchParams(at < 0 ? '' : req.originalUrl.slice(at + 1));
  query.delete('jwt');
  return `${req.path}?${query.toString()}`;
}

/** The macro page's HTML, with its people's names. */
async function macroHtml(confluence: ConfluenceClient, res: Response, clientKey: string, view: WorkflowView): Promise<string> {
  const names = await displayNames(confluence, clientKey, mentionedIds(view));
  const model = { ...macroModel(view, names), pageTitle: 'Approvals', scripts: ['attest-ap.js', 'macro.js'] };
  return new Promise<string>((resolve, reject) => res.render('macro', model, (err: Error | null, html?: string) => (err ? reject(err) : resolve(html ?? ''))));
}

/** The workflow block alone (what the macro swaps in after a decision), with its people's names. */
async function renderWorkflowBlock(confluence: ConfluenceClient, res: Response, clientKey: string, view: WorkflowView): Promise<void> {
  const names = await displayNames(confluence, clientKey, mentionedIds(view));
  res.render('partials/workflow', { ...macroModel(view, names), layout: false });
}

/**
 * The Approvals macro (page JWT: its parameters are covered by the qsh), its editor, and the public
 * workflow API (context JWT from AP.context.getToken(); the service checks the page permission on every request).
 */
export function createApprovalsRouter(opts: RouterOpts): Router {
  const router = Router();
  macroRoutes(router, opts);
  workflowRoutes(router, opts);
  pickerRoutes(router, opts);
  return router;
}

/** The macro as an iframe, as static content for exports, and its editor. */
function macroRoutes(router: Router, opts: RouterOpts): void {
  const { addon, service, confluence } = opts;
  router.get(
    '/macro',
    ...(opts.tenants ? leanPageJwt(addon, opts.tenants) : pageJwt(addon)),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const q = parseInput(macroQuery, req.query);
      const html = await service.renderHtml(p, macroParamsOf(q), signedParametersOf(req), (view) => macroHtml(confluence, res, p.clientKey, view));
      res.type('html').send(html);
    }),
  );

  /**
   * Static content for exports (PDF, Word), email and other non-browser renders: Confluence fetches it
   * server to server and puts the XHTML into the page, so it is a fragment of storage-format markup, never
   * an error page. It says the state, the bound version, the approvers with their decisions and dates.
   */
  router.get(
    '/macro-static',
    ...pageJwt(addon),
    asyncHandler(async (req, res) => {
      const p = principalOf(req);
      const q = parseInput(staticMacroQuery, req.query);
      res.type('text/html').set('Cache-Control', 'no-store');
      try {
        const view = await service.staticView(p, q.pageId, q.macroId);
        if (!view) return void res.render('macro-static', { layout: false, message: 'Approvals: no approval workflow yet. It starts when someone opens the page in Confluence.' });
        const names = await displayNames(confluence, p.clientKey, mentionedIds(view));
        res.render('macro-static', { layout: false, ...staticModel(view, names, q.pageVersion ?? null) });
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        res.status(200).render('macro-static', { layout: false, message: `Approvals: ${err.message}` });
      }
    }),
  );

  router.get(
    '/macro-editor',
    ...pageJwt(addon),
    (req: Request, res: Response) => {
      requireUser(req);
      res.render('macro-editor', { pageTitle: 'Approvals', scripts: ['attest-ap.js', 'attest-picker.js', 'macro-editor.js'] });
    },
  );
}

/** The workflow API: read it (JSON or the HTML block) and decide. */
function workflowRoutes(router: Router, opts: RouterOpts): void {
  const { addon, service, confluence } = opts;

  router.get(
    '/api/pages/:pageId/workflows/:macroId',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { pageId, macroId } = parseInput(workflowPathParams, req.params);
      const view = await service.getWorkflow(p, pageId, macroId, viewedVersionOf(req, pageId));
      res.json(workflowJson(view, await displayNames(confluence, p.clientKey, mentionedIds(view))));
    }),
  );

  /** The workflow block as HTML, for the macro to refresh itself after a decision. */
  router.get(
    '/api/pages/:pageId/workflows/:macroId/view',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { pageId, macroId } = parseInput(workflowPathParams, req.params);
      await renderWorkflowBlock(confluence, res, p.clientKey, await service.getWorkflow(p, pageId, macroId, viewedVersionOf(req, pageId)));
    }),
  );

  router.post(
    '/api/pages/:pageId/workflows/:macroId/decisions',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { pageId, macroId } = parseInput(workflowPathParams, req.params);
      const body = parseInput(decisionBody, req.body);
      const idempotencyKey = parseInput(idempotencyKeyHeader, req.get('Idempotency-Key'));
      const { view, replayed } = await service.decide(p, pageId, macroId, body, viewedVersionOf(req, pageId), idempotencyKey);
      // A repeat gets the first answer's status and shape; the header tells a client it was not recorded twice.
      if (replayed) res.set('Idempotent-Replayed', 'true');
      res.status(201).json(workflowJson(view, await displayNames(confluence, p.clientKey, mentionedIds(view))));
    }),
  );

}

/** Pickers and name lookups are for someone editing a macro: never for a token without a user (#18). */
function pickerRoutes(router: Router, opts: RouterOpts): void {
  const { addon, confluence } = opts;
  router.get(
    '/api/pickers/users',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { q } = parseInput(pickerQuery, req.query);
      res.json({ results: await confluence.searchUsers(p.clientKey, q) });
    }),
  );

  router.get(
    '/api/pickers/groups',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { q } = parseInput(pickerQuery, req.query);
      res.json({ results: await confluence.searchGroups(p.clientKey, q) });
    }),
  );

  /** Display names for ids already saved in a macro (the editor shows names, not ids). */
  router.get(
    '/api/pickers/users/names',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { ids } = parseInput(namesQuery, req.query);
      const names = await displayNames(confluence, p.clientKey, ids);
      res.json({ results: ids.map((id) => ({ accountId: id, displayName: names.get(id) ?? id })) });
    }),
  );
}
