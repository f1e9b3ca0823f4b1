import { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../lib/logger';
import { ACCOUNT } from './devhost-seed';
import { DevhostError, DevhostStore } from './devhost-state';
import { verifyAddonJwt } from './devhost-jwt';
import type { DevComment, DevPage, DevSpace, DevTenant, DevUser, PageVersion } from './devhost-types';

/** One REST call the add-on made, for tests that assert it called with a verified JWT. */
export interface RestCallRecord {
  method: string;
  /** Path relative to the tenant base URL, with the query string. */
  path: string;
  /** The tenant whose JWT verified; null when verification failed. */
  clientKey: string | null;
  status: number;
}

/** v2 pagination is small on purpose, so the add-on's `_links.next` handling is exercised. */
export const V2_PAGE_SIZE = 2;

type TenantRequest = Request & { devhostTenant: DevTenant };

const APP_USER: DevUser = { accountId: ACCOUNT.app, displayName: 'Attest', email: '', siteAdmin: false, role: 'app' };

const permissionCheckBody = z.object({
  subject: z.object({ type: z.enum(['user', 'group']), identifier: z.string().min(1) }),
  operation: z.enum(['read', 'update', 'delete', 'create', 'administer', 'export', 'restrict_content', 'archive', 'use']),
});

const commentBody = z.object({
  type: z.literal('comment'),
  container: z.object({ id: z.union([z.string(), z.number()]).transform(String), type: z.literal('page') }).passthrough(),
  body: z.object({ storage: z.object({ value: z.string().min(1), representation: z.literal('storage') }) }),
  status: z.string().optional(),
}).passthrough();

function str(q: unknown): string {
  return typeof q === 'string' ? q : Array.isArray(q) && typeof q[0] === 'string' ? q[0] : '';
}

function expands(req: Request): Set<string> {
  return new Set(str(req.query.expand).split(',').map((s) => s.trim()).filter(Boolean));
}

function intParam(raw: unknown, dflt: number, max: number): number {
  const n = Number.parseInt(str(raw), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : dflt;
}

/** Confluence's REST API as the add-on uses it, under a tenant base URL (`/devhost/wiki`). */
export function createRestRouter(opts: {
  store: DevhostStore;
  addonKey: string;
  logger: Logger;
  restCalls: RestCallRecord[];
}): Router {
  const { store, restCalls } = opts;
  const router = Router();

  // The tenant base path is where this router is mounted (req.baseUrl); the tenant must own it.
  router.use((req: Request, res: Response, next: NextFunction) => {
    // Only the REST API lives here; the browser pages under the same base are another router's.
    if (!/^\/(rest\/api|api\/v2)\//.test(req.path)) return next('router');
    const rel = req.originalUrl.slice(req.baseUrl.length);
    const record: RestCallRecord = { method: req.method, path: rel, clientKey: null, status: 0 };
    restCalls.push(record);
    if (restCalls.length > 500) restCalls.splice(0, restCalls.length - 500);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    try {
      const tenant = verifyAddonJwt(
        { method: req.method, path: req.originalUrl.split('?')[0], query: req.query as Record<string, unknown>, authorization: req.headers.authorization },
        (clientKey) => store.tenant(clientKey),
        opts.addonKey,
      );
      if (new URL(tenant.baseUrl).pathname !== req.baseUrl) throw new DevhostError(401, 'The JWT belongs to another site');
      record.clientKey = tenant.clientKey;
      (req as TenantRequest).devhostTenant = tenant;
      next();
    } catch (err) {
      next(err);
    }
  });

  const base = (req: Request) => (req as TenantRequest).devhostTenant.baseUrl;
  const contextPath = (req: Request) => new URL(base(req)).pathname;

  function userJson(req: Request, u: DevUser, withOperations = false): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: 'known',
      accountId: u.accountId,
      accountType: u.accountId === ACCOUNT.app ? 'app' : 'atlassian',
      email: u.email,
      publicName: u.displayName,
      profilePicture: { path: '/wiki/aa-avatar/default.png', width: 48, height: 48, isDefault: true },
      displayName: u.displayName,
      isExternalCollaborator: false,
      _expandable: withOperations ? { personalSpace: '' } : { operations: '', personalSpace: '' },
      _links: { self: `${base(req)}/rest/api/user?accountId=${encodeURIComponent(u.accountId)}`, base: base(req), context: contextPath(req) },
    };
    if (withOperations) {
      out.operations = [
        { operation: 'use', targetType: 'application' },
        ...(u.siteAdmin ? [{ operation: 'administer', targetType: 'application' }] : []),
        { operation: 'create', targetType: 'space' },
      ];
    }
    return out;
  }

  const userById = (id: string) => (id === ACCOUNT.app ? APP_USER : store.user(id));
  const byJson = (req: Request, id: string) => {
    const u = userById(id);
    return u ? userJson(req, u) : { type: 'known', accountId: id, displayName: 'Former user', _links: {} };
  };

  function spaceJson(req: Request, s: DevSpace): Record<string, unknown> {
    return {
      id: Number(s.id),
      key: s.key,
      name: s.name,
      type: 'global',
      status: 'current',
      _expandable: { settings: '', metadata: '', operations: '', lookAndFeel: '', permissions: '', icon: '', description: '', theme: '', history: '', homepage: '' },
      _links: { webui: `/spaces/${s.key}`, self: `${base(req)}/rest/api/space/${s.key}` },
    };
  }

  function versionJson(req: Request, page: DevPage, v: PageVersion): Record<string, unknown> {
    return {
      by: byJson(req, v.authorId),
      when: v.createdAt,
      friendlyWhen: v.createdAt.slice(0, 10),
      message: v.message,
      number: v.number,
      minorEdit: false,
      contentTypeModified: false,
      _expandable: { collaborators: '', content: `/rest/api/content/${page.id}` },
      _links: { self: `${base(req)}/rest/api/content/${page.id}/version/${v.number}` },
    };
  }

  function webui(page: DevPage, v: PageVersion): string {
    return `/spaces/${page.spaceKey}/pages/${page.id}/${encodeURIComponent(v.title.replace(/\s+/g, '+'))}`;
  }

  function contentJson(req: Request, page: DevPage, v: PageVersion, ex: Set<string>): Record<string, unknown> {
    const latest = v.number === store.current(page).number;
    const space = store.space(page.spaceKey)!;
    const out: Record<string, unknown> = {
      id: page.id,
      type: 'page',
      status: latest ? page.status : 'historical',
      title: v.title,
    };
    const expandable: Record<string, string> = {};
    if (ex.has('space')) out.space = spaceJson(req, space);
    else expandable.space = `/rest/api/space/${space.key}`;
    if (ex.has('history') || [...ex].some((e) => e.startsWith('history.'))) {
      out.history = {
        latest,
        createdBy: byJson(req, page.versions[0].authorId),
        createdDate: page.versions[0].createdAt,
        ...(ex.has('history.lastUpdated') ? { lastUpdated: versionJson(req, page, store.current(page)) } : {}),
        _links: { self: `${base(req)}/rest/api/content/${page.id}/history` },
      };
    } else expandable.history = `/rest/api/content/${page.id}/history`;
    if (ex.has('version')) out.version = versionJson(req, page, v);
    else expandable.version = '';
    if (ex.has('body.storage')) {
      out.body = {
        storage: { value: v.body, representation: 'storage', embeddedContent: [], _expandable: { content: `/rest/api/content/${page.id}` } },
        _expandable: { editor: '', atlas_doc_format: '', view: '', export_view: '', styled_view: '', dynamic: '', editor2: '', anonymous_export_view: '' },
      };
    } else expandable.body = '';
    Object.assign(expandable, { childTypes: '', container: `/rest/api/space/${space.key}`, metadata: '', operations: '', children: `/rest/api/content/${page.id}/child`, restrictions: `/rest/api/content/${page.id}/restriction/byOperation`, ancestors: '', descendants: `/rest/api/content/${page.id}/descendant` });
    out.extensions = { position: Number(page.id) % 1000 };
    out._expandable = expandable;
    out._links = {
      webui: webui(page, v),
      editui: `/pages/resumedraft.action?draftId=${page.id}`,
      tinyui: `/x/${Buffer.from(page.id).toString('base64url')}`,
      self: `${base(req)}/rest/api/content/${page.id}`,
      base: base(req),
      context: contextPath(req),
    };
    return out;
  }

  function commentJson(req: Request, page: DevPage, c: DevComment): Record<string, unknown> {
    return {
      id: c.id,
      type: 'comment',
      status: 'current',
      title: `Re: ${store.current(page).title}`,
      container: { id: page.id, type: 'page', status: page.status, title: store.current(page).title },
      version: { by: byJson(req, c.authorId), when: c.createdAt, number: 1, minorEdit: false, message: '' },
      body: { storage: { value: c.body, representation: 'storage' } },
      extensions: { location: 'footer' },
      _links: { webui: `${webui(page, store.current(page))}?focusedCommentId=${c.id}#comment-${c.id}`, self: `${base(req)}/rest/api/content/${c.id}`, base: base(req), context: contextPath(req) },
    };
  }

  /** A page the add-on may see: current by default, trashed with status=trashed|any, historical with version=N. */
  function pageFor(id: string, statuses: string[], historical: boolean): DevPage {
    const page = store.pageOrThrow(id);
    const any = statuses.includes('any');
    if (page.status === 'trashed' && !any && !historical && !statuses.includes('trashed')) {
      throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
    }
    return page;
  }

  function versionOf(page: DevPage, raw: string): PageVersion {
    const n = Number.parseInt(raw, 10);
    const v = Number.isFinite(n) ? store.version(page, n) : undefined;
    if (!v) throw new DevhostError(404, `No content found with id: ContentId{id=${page.id}} and version ${raw}`);
    return v;
  }

  // ---- v1 content ----

  router.get('/rest/api/content/:id', (req, res) => {
    const statuses = str(req.query.status || 'current').split(',');
    const wanted = str(req.query.version);
    const page = pageFor(req.params.id, statuses, statuses.includes('historical') || !!wanted);
    const v = wanted ? versionOf(page, wanted) : store.current(page);
    res.json(contentJson(req, page, v, expands(req)));
  });

  router.get('/rest/api/content/:id/version/:n', (req, res) => {
    const page = pageFor(req.params.id, ['any'], true);
    const v = versionOf(page, req.params.n);
    const ex = expands(req);
    const out = versionJson(req, page, v);
    const contentEx = new Set([...ex].filter((e) => e.startsWith('content.')).map((e) => e.slice('content.'.length)));
    if (ex.has('content') || contentEx.size) {
      out.content = contentJson(req, page, v, contentEx);
      delete (out._expandable as Record<string, string>).content;
    }
    res.json(out);
  });

  router.post('/rest/api/content/:id/permission/check', (req, res) => {
    const parsed = permissionCheckBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid permission check request: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    const page = store.pageOrThrow(req.params.id);
    const { subject, operation } = parsed.data;
    let denial: string | null;
    if (subject.type === 'user') {
      denial = store.user(subject.identifier) ? store.readDenial(subject.identifier, page) : 'User is not allowed to use Confluence';
      if (!denial && operation === 'administer' && !store.isSpaceAdmin(subject.identifier, page.spaceKey)) denial = 'User does not have permission to the space';
      if (!denial && ['delete', 'restrict_content', 'archive'].includes(operation) && !store.isSpaceAdmin(subject.identifier, page.spaceKey) && store.current(page).authorId !== subject.identifier) {
        denial = 'User does not have permission to the content';
      }
    } else {
      const group = store.group(subject.identifier);
      const space = store.space(page.spaceKey)!;
      const spaceOk = !!group && space.permissions.some((p) => p.principal.type === 'group' && p.principal.id === group.id && (p.operation.key === 'read' || p.operation.key === 'administer'));
      denial = !spaceOk
        ? 'Group does not have permission to the space'
        : page.status !== 'current' || (page.restriction && !page.restriction.groups.includes(group!.name))
          ? 'Group does not have permission to the content'
          : null;
    }
    res.json({ hasPermission: denial === null, errors: denial ? [{ translation: denial, args: [] }] : [], _links: { base: base(req), context: contextPath(req) } });
  });

  router.post('/rest/api/content', (req, res) => {
    const parsed = commentBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `The devhost only creates footer comments on pages: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    const page = store.pageOrThrow(parsed.data.container.id);
    if (page.status !== 'current') throw new DevhostError(400, `Cannot comment on ${page.status} content`);
    const comment = store.addComment(page.id, ACCOUNT.app, parsed.data.body.storage.value);
    opts.logger.info({ pageId: page.id, commentId: comment.id }, 'devhost: comment created');
    res.json(commentJson(req, page, comment));
  });

  // ---- users and groups ----

  router.get('/rest/api/user', (req, res) => {
    const u = userById(str(req.query.accountId));
    if (!u) throw new DevhostError(404, `No user found with accountId: ${str(req.query.accountId)}`);
    res.json(userJson(req, u, expands(req).has('operations')));
  });

  const groupJson = (req: Request, g: { id: string; name: string }) => ({
    type: 'group',
    name: g.name,
    id: g.id,
    _links: { self: `${base(req)}/rest/api/group/by-id?id=${g.id}` },
  });

  function paged<T>(req: Request, all: T[], dflt = 200): Record<string, unknown> {
    const start = intParam(req.query.start, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(req.query.limit, dflt, 1000) || dflt;
    const results = all.slice(start, start + limit);
    return { results, start, limit, size: results.length, totalSize: all.length, _links: { base: base(req), context: contextPath(req), self: `${base(req)}${req.path}` } };
  }

  router.get('/rest/api/user/memberof', (req, res) => {
    const accountId = str(req.query.accountId);
    if (!store.user(accountId)) throw new DevhostError(404, `No user found with accountId: ${accountId}`);
    res.json(paged(req, store.groupsOf(accountId).map((g) => groupJson(req, g))));
  });

  router.get('/rest/api/search/user', (req, res) => {
    const cql = str(req.query.cql);
    const m = /user(?:\.fullname)?\s*~\s*"([^"]*)"/i.exec(cql) ?? /user\.accountid\s*=\s*"([^"]*)"/i.exec(cql);
    if (!m) throw new DevhostError(400, `The devhost understands only user.fullname~"…" and user.accountid="…" in cql, got: ${cql}`);
    const needle = m[1].toLowerCase();
    const byId = /accountid/i.test(m[0]);
    const found = store.state.users.filter((u) => !u.closed && (byId ? u.accountId === m[1] : u.displayName.toLowerCase().includes(needle)));
    const page = paged(req, found.map((u) => ({
      user: userJson(req, u),
      title: u.displayName,
      excerpt: '',
      url: `/people/${u.accountId}`,
      entityType: 'user',
      iconCssClass: 'aui-icon content-type-profile',
      lastModified: '2025-11-01T00:00:00.000Z',
      score: 0,
    })), 25);
    res.json({ ...page, cqlQuery: cql, searchDuration: 1 });
  });

  router.get('/rest/api/group/picker', (req, res) => {
    const q = str(req.query.query).toLowerCase();
    res.json(paged(req, store.state.groups.filter((g) => g.name.toLowerCase().includes(q)).map((g) => groupJson(req, g)), 25));
  });

  const groupMembers = (req: Request, name: string) => {
    const g = store.group(name);
    if (!g) throw new DevhostError(404, `No group found with name: ${name}`);
    return paged(req, g.members.map((id) => store.user(id)).filter((u): u is DevUser => !!u).map((u) => userJson(req, u)));
  };
  router.get('/rest/api/group/member', (req, res) => res.json(groupMembers(req, str(req.query.name))));
  router.get('/rest/api/group/:name/member', (req, res) => res.json(groupMembers(req, req.params.name)));

  router.get('/rest/api/space/:key', (req, res) => {
    const s = store.space(req.params.key);
    if (!s) throw new DevhostError(404, `No space with key : ${req.params.key}`);
    res.json(spaceJson(req, s));
  });

  // ---- v2 ----

  function v2Page(req: Request, page: DevPage, v: PageVersion, format: string): Record<string, unknown> {
    return {
      id: page.id,
      status: v.number === store.current(page).number ? page.status : 'historical',
      title: v.title,
      spaceId: store.space(page.spaceKey)!.id,
      parentId: null,
      parentType: null,
      position: Number(page.id) % 1000,
      authorId: page.versions[0].authorId,
      ownerId: page.versions[0].authorId,
      lastOwnerId: null,
      createdAt: page.versions[0].createdAt,
      version: { createdAt: v.createdAt, message: v.message, number: v.number, minorEdit: false, authorId: v.authorId },
      body: format === 'storage' ? { storage: { representation: 'storage', value: v.body } } : {},
      _links: { webui: webui(page, v), editui: `/pages/resumedraft.action?draftId=${page.id}`, tinyui: `/x/${Buffer.from(page.id).toString('base64url')}`, base: base(req) },
    };
  }

  router.get('/api/v2/pages/:id', (req, res) => {
    const wanted = str(req.query.version);
    const page = pageFor(req.params.id, str(req.query.status || 'current,archived').split(','), !!wanted);
    const v = wanted ? versionOf(page, wanted) : store.current(page);
    res.json(v2Page(req, page, v, str(req.query['body-format'])));
  });

  const v2Space = (s: DevSpace) => ({
    id: s.id,
    key: s.key,
    name: s.name,
    type: 'global',
    status: 'current',
    authorId: ACCOUNT.siteAdmin,
    createdAt: '2025-10-01T00:00:00.000Z',
    homepageId: null,
    description: null,
    icon: null,
    _links: { webui: `/spaces/${s.key}` },
  });

  router.get('/api/v2/spaces', (req, res) => {
    const keys = str(req.query.keys).split(',').filter(Boolean);
    const spaces = store.state.spaces.filter((s) => !keys.length || keys.includes(s.key));
    res.json({ results: spaces.map(v2Space), _links: { base: base(req) } });
  });

  router.get('/api/v2/spaces/:id', (req, res) => {
    const s = store.spaceById(req.params.id);
    if (!s) throw new DevhostError(404, `Space ${req.params.id} not found`);
    res.json(v2Space(s));
  });

  router.get('/api/v2/spaces/:id/permissions', (req, res) => {
    const s = store.spaceById(req.params.id);
    if (!s) throw new DevhostError(404, `Space ${req.params.id} not found`);
    const offset = Number.parseInt(Buffer.from(str(req.query.cursor), 'base64url').toString() || '0', 10) || 0;
    const limit = Math.min(intParam(req.query.limit, V2_PAGE_SIZE, V2_PAGE_SIZE) || V2_PAGE_SIZE, V2_PAGE_SIZE);
    const results = s.permissions.slice(offset, offset + limit);
    const links: Record<string, string> = { base: base(req) };
    if (offset + limit < s.permissions.length) {
      // Like Confluence: the next link is site-relative and already includes the context path (/wiki).
      const cursor = Buffer.from(String(offset + limit)).toString('base64url');
      links.next = `${contextPath(req)}/api/v2/spaces/${s.id}/permissions?cursor=${cursor}&limit=${limit}`;
    }
    res.json({ results, _links: links });
  });

  router.use((req: Request, _res: Response, next: NextFunction) => next(new DevhostError(404, `null for uri: ${base(req)}${req.path}`)));

  // Confluence-like error JSON (v2 routes answer in v2's error shape).
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof DevhostError ? err.statusCode : (err as { type?: string }).type === 'entity.parse.failed' ? 400 : 500;
    const message = err instanceof DevhostError ? err.message : status === 400 ? 'Could not parse the request body' : 'Internal server error';
    if (status >= 500) opts.logger.error({ err }, 'devhost REST failed');
    const reason = ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict' } as Record<number, string>)[status] ?? 'Internal Server Error';
    if (req.path.startsWith('/api/v2/')) {
      res.status(status).json({ errors: [{ status, code: reason.toUpperCase().replace(/ /g, '_'), title: reason, detail: message }] });
    } else {
      res.status(status).json({ statusCode: status, data: { authorized: status !== 401, valid: true, errors: [], successful: false }, message, reason });
    }
  });

  return router;
}
