import fs from 'node:fs';
import path from 'node:path';
import express, { NextFunction, Request, Response, Router } from 'express';
import Handlebars from 'handlebars';
import { z } from 'zod';
import type { Config } from '../config';
import type { Logger } from '../lib/logger';
import type { Devhost } from './devhost';
import { segmentsOf } from './devhost-macros';
import { MACRO_KEY } from './devhost-seed';
import { DevhostError, DevhostStore } from './devhost-state';
import type { DevPage, DevUser } from './devhost-types';

const ROOT = path.resolve(__dirname, '..', '..');
const VIEWS = path.join(ROOT, 'views', 'devhost');
const PUBLIC = path.join(ROOT, 'public', 'devhost');
const AS_COOKIE = 'devhost_as';

const hbs = Handlebars.create();
const compiled = new Map<string, Handlebars.TemplateDelegate>();
function template(name: string): Handlebars.TemplateDelegate {
  let t = compiled.get(name);
  if (!t) {
    t = hbs.compile(fs.readFileSync(path.join(VIEWS, `${name}.hbs`), 'utf8'));
    compiled.set(name, t);
  }
  return t;
}

const contextTokenBody = z.object({
  as: z.string().min(1),
  pageId: z.string().optional(),
  pageVersion: z.union([z.string(), z.number()]).optional(),
  spaceKey: z.string().optional(),
  macroId: z.string().optional(),
});
const saveMacroBody = z.object({ as: z.string().min(1), params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)) });

type Handler = (req: Request, res: Response) => Promise<void> | void;
const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  Promise.resolve(fn(req, res)).catch(next);
};

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** The browser side of the devhost: site pages, module pages, the all.js stand-in and its token endpoint. */
export function createPagesRouter(opts: { devhost: Devhost; store: DevhostStore; descriptor: unknown; config: Config; logger: Logger }): Router {
  const { devhost, store, logger } = opts;
  const root = '/devhost';
  const SITE_LOCALE = 'en-GB';
  const SITE_TIME_ZONE = 'UTC';
  const router = Router();
  const nameOf = (id: string) => store.user(id)?.displayName ?? 'Unknown user';
  const pageHref = (p: DevPage) => `${root}/wiki/spaces/${p.spaceKey}/${p.type === 'blogpost' ? 'blog' : 'pages'}/${p.id}`;

  /** "View as": ?as= wins and is remembered in a cookie; the space admin is the default viewer. */
  function viewer(req: Request, res: Response): DevUser {
    const asked = typeof req.query.as === 'string' ? store.user(req.query.as) : undefined;
    if (asked) res.cookie(AS_COOKIE, asked.accountId, { httpOnly: true, sameSite: 'lax', path: root });
    const remembered = cookie(req, AS_COOKIE);
    return asked ?? (remembered ? store.user(remembered) : undefined) ?? devhost.users.spaceAdmin;
  }

  function render(res: Response, view: string, viewerUser: DevUser, data: Record<string, unknown>, status = 200): void {
    const users = store.state.users.map((u) => ({ ...u, selected: u.accountId === viewerUser.accountId }));
    const body = template(view)({ ...data, root });
    // Confluence gives iframes the viewer's profile language and time zone (the site's defaults when unset).
    const viewerSettings = { locale: viewerUser.locale ?? SITE_LOCALE, timeZone: viewerUser.timeZone ?? SITE_TIME_ZONE };
    res.status(status).type('html').send(template('layout')({ title: data.title ?? 'Devhost', root, users, body, viewer: viewerSettings }));
  }

  function pageInSpace(req: Request): DevPage {
    const page = store.pageOrThrow(req.params.id);
    if (page.spaceKey !== req.params.key) throw new DevhostError(404, `page ${page.id} is not in space ${req.params.key}`);
    if ((page.type === 'blogpost') !== (req.params.kind === 'blog')) throw new DevhostError(404, `${page.id} is a ${page.type}, not at /${req.params.kind}/`);
    return page;
  }

  /*
   * The site has one address, as a Confluence site does: opened under another name for the same server
   * (127.0.0.1 for localhost, or the other way round), a page moves to the configured one. Otherwise the
   * app's iframes would come from another origin than the page, which the CSP's frame-src and the
   * all.js stand-in (it answers only its own origin) rightly refuse, and every macro would be a broken frame.
   */
  const site = new URL(opts.config.localBaseUrl);
  router.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.headers.host || req.headers.host === site.host) return next();
    if (!req.accepts('html') || req.path.startsWith('/static') || req.path === '/all.js' || req.path.startsWith('/connect-keys')) return next();
    res.redirect(302, `${site.origin}${req.originalUrl}`);
  });

  router.get('/connect-keys/:kid', (req, res) => {
    // ACE treats any non-empty body as the key, so an unknown kid must be an empty 404.
    if (req.params.kid !== store.keys.kid) return void res.status(404).end();
    res.type('text/plain').send(store.keys.publicKeyPem);
  });

  router.get('/all.js', (_req, res) => res.type('application/javascript').sendFile(path.join(PUBLIC, 'all.js')));
  router.use('/static', express.static(PUBLIC, { maxAge: 0 }));
  router.use(devhost.reportAccounts.router);

  router.get('/', (req, res) => {
    const v = viewer(req, res);
    const spaces = store.state.spaces.map((s) => ({
      key: s.key,
      name: s.name,
      settingsHref: `${root}/wiki/spaces/${s.key}/settings/attest`,
      pages: store.state.pages
        .filter((p) => p.spaceKey === s.key && p.status !== 'removed')
        .map((p) => ({ href: pageHref(p), title: store.current(p).title, version: store.current(p).number, restricted: !!p.restriction, trashed: p.status === 'trashed' })),
    }));
    const people = store.state.users.map((u) => ({ ...u, groups: store.groupsOf(u.accountId).map((g) => g.name).join(', ') }));
    render(res, 'index', v, { title: 'Devhost', spaces, people, clientKey: devhost.clientKey, tenantBase: devhost.baseUrl });
  });

  router.get('/wiki/spaces/:key/:kind(pages|blog)/:id', (req, res) => {
    const v = viewer(req, res);
    const page = pageInSpace(req);
    const space = store.space(page.spaceKey)!;
    const latest = store.current(page);
    const wanted = typeof req.query.version === 'string' ? Number.parseInt(req.query.version, 10) : latest.number;
    const ver = store.version(page, wanted) ?? latest;
    const denial = store.readDenial(v.accountId, page.status === 'trashed' ? { ...page, status: 'current' } : page);
    const trashed = page.status === 'trashed';
    const segments = denial
      ? []
      : segmentsOf(ver.body, MACRO_KEY).map((s) =>
          s.kind === 'text'
            ? { text: s.text }
            : {
                frame: trashed
                  ? undefined
                  : {
                      src: devhost.macroUrl(v.accountId, page.id, s.macro.macroId, { version: ver.number }),
                      as: v.accountId,
                      pageId: page.id,
                      version: ver.number,
                      spaceKey: page.spaceKey,
                      macroId: s.macro.macroId,
                      params: JSON.stringify(s.macro.params),
                      returnHref: pageHref(page),
                      editHref: `${pageHref(page)}/edit-macro/${encodeURIComponent(s.macro.macroId)}`,
                    },
              },
        );
    render(res, 'page', v, {
      title: `${ver.title} · ${space.name}`,
      denial,
      viewerName: v.displayName,
      viewerId: v.accountId,
      spaceKey: space.key,
      spaceName: space.name,
      pageTitle: ver.title,
      version: ver.number,
      latestVersion: latest.number,
      latestHref: pageHref(page),
      isOld: ver.number !== latest.number,
      authorName: nameOf(ver.authorId),
      createdAt: ver.createdAt,
      restricted: !!page.restriction,
      trashed,
      segments,
      storage: latest.body,
      versions: page.versions.map((x) => ({ number: x.number, author: nameOf(x.authorId), createdAt: x.createdAt, href: `${pageHref(page)}?version=${x.number}` })).reverse(),
      comments: store.comments(page.id).map((c) => ({ author: store.user(c.authorId)?.displayName ?? 'Attest (app)', createdAt: c.createdAt, text: c.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim() })),
      editAction: `${pageHref(page)}/edit`,
      exportHref: `${pageHref(page)}/export`,
      statusAction: `${pageHref(page)}/status`,
      // Confluence offers editing and "Move to trash" only to people who may edit the page.
      canEdit: !denial && store.editDenial(v.accountId, page) === null,
    }, denial ? 403 : 200);
  });

  /** A PDF/Word export as Confluence makes it: text, and each macro's static render (HTML from the add-on). */
  router.get(
    '/wiki/spaces/:key/:kind(pages|blog)/:id/export',
    wrap(async (req, res) => {
      const v = viewer(req, res);
      const page = pageInSpace(req);
      const denial = store.readDenial(v.accountId, page);
      if (denial) throw new DevhostError(403, `${v.displayName}: ${denial}`);
      const out = await devhost.exportPage(page.id, v.accountId);
      const segments = segmentsOf(store.current(page).body, MACRO_KEY);
      let m = 0;
      // The add-on's static content goes in unescaped, as Confluence inserts storage format (the add-on escapes it).
      const parts = segments.map((s) => (s.kind === 'text' ? { text: s.text } : { html: out.macros[m++]?.html ?? '' }));
      render(res, 'export', v, { title: `Export · ${store.current(page).title}`, pageTitle: store.current(page).title, viewerName: v.displayName, backHref: pageHref(page), parts });
    }),
  );

  router.post(
    '/wiki/spaces/:key/:kind(pages|blog)/:id/edit',
    wrap(async (req, res) => {
      const page = pageInSpace(req);
      const as = String(req.body?.as ?? '');
      const user = store.user(as);
      if (!user) throw new DevhostError(400, 'choose a user to edit as');
      const denial = store.editDenial(as, page);
      if (denial) throw new DevhostError(403, `${user.displayName} cannot edit this page: ${denial}`);
      const body = typeof req.body?.body === 'string' ? req.body.body.replace(/\r\n/g, '\n') : undefined;
      const title = typeof req.body?.title === 'string' ? req.body.title : undefined;
      await devhost.editPage(page.id, { body, title, as }).catch((err) => {
        logger.warn({ err: String(err), pageId: page.id }, 'devhost: page saved but the webhook failed');
      });
      res.redirect(303, `${pageHref(page)}?as=${encodeURIComponent(as)}`);
    }),
  );

  router.post(
    '/wiki/spaces/:key/:kind(pages|blog)/:id/status',
    wrap(async (req, res) => {
      const page = pageInSpace(req);
      const as = String(req.body?.as ?? '');
      const user = store.user(as);
      if (!user) throw new DevhostError(400, 'choose a user to act as');
      const denial = store.editDenial(as, page);
      if (denial) throw new DevhostError(403, `${user.displayName} cannot move this page to or from the trash: ${denial}`);
      const action = String(req.body?.action ?? '');
      const run = { trash: devhost.trashPage, restore: devhost.restorePage, remove: devhost.removePage }[action];
      if (!run) throw new DevhostError(400, `unknown action "${action}"`);
      await run(page.id, { as }).catch((err) => logger.warn({ err: String(err), pageId: page.id }, 'devhost: webhook failed'));
      res.redirect(303, action === 'remove' ? root : `${pageHref(page)}?as=${encodeURIComponent(as)}`);
    }),
  );

  router.get('/wiki/spaces/:key/:kind(pages|blog)/:id/edit-macro/:macroId', (req, res) => {
    const v = viewer(req, res);
    const page = pageInSpace(req);
    const macro = segmentsOf(store.current(page).body, MACRO_KEY).find((s) => s.kind === 'macro' && s.macro.macroId === req.params.macroId);
    if (!macro || macro.kind !== 'macro') throw new DevhostError(404, `page ${page.id} has no macro ${req.params.macroId}`);
    const denial = store.readDenial(v.accountId, page);
    if (denial) throw new DevhostError(403, `${v.displayName}: ${denial}`);
    render(res, 'module', v, {
      title: 'Edit approvals',
      heading: `Edit approvals on “${store.current(page).title}”`,
      kind: 'editor',
      src: devhost.editorUrl(v.accountId, page.id, macro.macro.macroId),
      as: v.accountId,
      pageId: page.id,
      pageVersion: store.current(page).number,
      spaceKey: page.spaceKey,
      macroId: macro.macro.macroId,
      params: JSON.stringify(macro.macro.params),
      backHref: pageHref(page),
      backLabel: store.current(page).title,
    });
  });

  router.get('/wiki/spaces/:key/settings/attest', (req, res) => {
    const v = viewer(req, res);
    const space = store.space(req.params.key);
    if (!space) throw new DevhostError(404, `no space ${req.params.key}`);
    render(res, 'module', v, {
      title: `Attest · ${space.name}`,
      heading: `Space settings → Attest (${space.name})`,
      note: store.isSpaceAdmin(v.accountId, space.key)
        ? undefined
        : `Confluence shows this tab only to space admins; ${v.displayName} is not one, so Attest must refuse.`,
      kind: 'spaceTools',
      src: devhost.spaceToolsUrl(v.accountId, space.key),
      as: v.accountId,
      spaceKey: space.key,
      backHref: root,
      backLabel: 'Spaces',
    });
  });

  router.get('/wiki/plugins/my-approvals', (req, res) => {
    const v = viewer(req, res);
    render(res, 'module', v, { title: 'My approvals', heading: 'My approvals', kind: 'generalPage', src: devhost.myApprovalsUrl(v.accountId), as: v.accountId });
  });

  /** Exercises the all.js stand-in end to end in a browser: an iframe that calls every AP function. */
  router.get('/selftest', (req, res) => {
    const v = viewer(req, res);
    const page = store.pageOrThrow(devhost.pages.onCall.id);
    const [macro] = segmentsOf(store.current(page).body, MACRO_KEY).flatMap((s) => (s.kind === 'macro' ? [s.macro] : []));
    render(res, 'module', v, {
      title: 'all.js self-test',
      heading: 'all.js self-test',
      note: `An iframe that calls AP.context.getToken, getMacroData, flag, resize and saveMacro against “${store.current(page).title}”.`,
      kind: 'selftest',
      src: `${root}/static/selftest.html`,
      as: v.accountId,
      pageId: page.id,
      pageVersion: store.current(page).number,
      spaceKey: page.spaceKey,
      macroId: macro.macroId,
      params: JSON.stringify(macro.params),
      backHref: pageHref(page),
      backLabel: store.current(page).title,
    });
  });

  // ---- endpoints for host.js (same origin, JSON only so that a cross-site form cannot reach them) ----

  const requireJson = (req: Request) => {
    if (!req.is('application/json')) throw new DevhostError(415, 'send JSON');
  };

  router.post('/api/context-token', (req, res) => {
    requireJson(req);
    const parsed = contextTokenBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, 'as, pageId, pageVersion, spaceKey, macroId expected');
    const { as, pageId, pageVersion, spaceKey, macroId } = parsed.data;
    if (!store.user(as)) throw new DevhostError(400, 'unknown user');
    if (pageId && !store.canRead(as, store.pageOrThrow(pageId))) throw new DevhostError(403, 'that user cannot read the page');
    const version = pageVersion === undefined || pageVersion === '' ? undefined : Number(pageVersion);
    res.set('Cache-Control', 'no-store').json({ token: devhost.contextJwt(as, { pageId: pageId || undefined, version, spaceKey: spaceKey || undefined, macroId: macroId || undefined }) });
  });

  router.post(
    '/api/pages/:id/macros/:macroId',
    wrap(async (req, res) => {
      requireJson(req);
      const parsed = saveMacroBody.safeParse(req.body);
      if (!parsed.success) throw new DevhostError(400, 'as and params expected');
      const page = store.pageOrThrow(req.params.id);
      const denial = store.readDenial(parsed.data.as, page);
      if (denial) throw new DevhostError(403, denial);
      const result = await devhost.saveMacro(page.id, req.params.macroId, parsed.data.params, parsed.data.as);
      res.json({ version: result.version, webhookStatus: result.webhook?.status ?? null });
    }),
  );

  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof DevhostError)) return next(err);
    if (req.path.startsWith('/api/')) return void res.status(err.statusCode).json({ statusCode: err.statusCode, message: err.message });
    const v = store.user(cookie(req, AS_COOKIE) ?? '') ?? devhost.users.spaceAdmin;
    render(res, 'message', v, { title: 'Devhost', heading: err.statusCode === 403 ? 'You do not have permission' : 'Cannot show this', message: err.message }, err.statusCode);
  });

  return router;
}
