import { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../lib/logger';
import { ACCOUNT } from './devhost-seed';
import { DevhostError, DevhostStore } from './devhost-state';
import { verifyAddonJwt } from './devhost-jwt';
import type { DevContentType, DevPage, DevSpace, DevTenant, DevUser, PageVersion } from './devhost-types';

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

/** The v1 spec's ContentPermissionRequest: only these three operations. */
const permissionCheckBody = z.object({
  subject: z.object({ type: z.enum(['user', 'group']), identifier: z.string().min(1) }),
  operation: z.enum(['read', 'update', 'delete']),
});

/** v2 CreateFooterCommentModel: exactly one container id, a storage (or other) body. */
const footerCommentBody = z
  .object({
    pageId: z.string().regex(/^\d+$/).optional(),
    blogPostId: z.string().regex(/^\d+$/).optional(),
    attachmentId: z.string().optional(),
    customContentId: z.string().optional(),
    body: z.object({ representation: z.enum(['storage', 'atlas_doc_format', 'wiki']), value: z.string().min(1) }),
  })
  .passthrough()
  .refine((b) => [b.pageId, b.blogPostId, b.attachmentId, b.customContentId].filter(Boolean).length === 1, 'exactly one container id is required');

const storageBody = z.object({ representation: z.literal('storage'), value: z.string() });
const createPageBody = z
  .object({ spaceId: z.string().regex(/^\d+$/), status: z.enum(['current', 'draft']).optional(), title: z.string().min(1).max(255), parentId: z.string().optional(), body: storageBody })
  .passthrough();
const updatePageBody = z
  .object({
    id: z.string(),
    status: z.enum(['current', 'draft']),
    title: z.string().min(1).max(255),
    body: storageBody,
    version: z.object({ number: z.number().int().positive(), message: z.string().optional() }),
  })
  .passthrough();

/**
 * Confluence may answer memberof with fewer rows than asked (its `limit` echoes the cap): the client must page
 * by `size`/`_links.next`, never by "fewer rows than I asked for" (issue 10; shared/CONNECT.md). The cap's real
 * value is not documented; 2 makes every multi-group user take several pages here.
 */
export const MEMBEROF_MAX_LIMIT = 2;

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

/** What Confluence answers on an endpoint Atlassian has removed. */
function gone(_req: Request, res: Response): void {
  res
    .status(410)
    .set({ Deprecation: 'Wed, 1 Mar 2023 00:00:00 GMT', Link: '<https://developer.atlassian.com/cloud/confluence/changelog/#CHANGE-864>; rel="deprecation"' })
    .json({
      statusCode: 410,
      data: { authorized: true, valid: true, errors: [], successful: false },
      message: 'com.atlassian.confluence.api.service.exceptions.GoneException: This deprecated endpoint has been removed.',
      reason: 'Gone',
    });
}

/** Confluence's REST API as the add-on uses it, under a tenant base URL (`/devhost/wiki`). */
export function createRestRouter(opts: {
  store: DevhostStore;
  addonKey: string;
  logger: Logger;
  restCalls: RestCallRecord[];
  /** Paths (relative to the tenant base) that answer 410 Gone, as endpoints Atlassian removes do. */
  goneEndpoints?: Set<string>;
}): Router {
  const { store, restCalls } = opts;
  const router = Router();

  // The tenant base path is where this router is mounted (req.baseUrl); the tenant must own it.
  router.use((req: Request, res: Response, next: NextFunction) => {
    // Only the REST API lives here; the browser pages under the same base are another router's.
    if (!/^\/(rest\/api|api\/v2|rest\/atlassian-connect\/1)\//.test(req.path)) return next('router');
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
      if ([...(opts.goneEndpoints ?? [])].some((prefix) => rel.startsWith(prefix))) return gone(req, res);
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


  function webui(page: DevPage, v: PageVersion): string {
    return `/spaces/${page.spaceKey}/${page.type === 'blogpost' ? 'blog' : 'pages'}/${page.id}/${encodeURIComponent(v.title.replace(/\s+/g, '+'))}`;
  }

  /** A page the add-on may see: current by default, trashed with status=trashed|any, historical with version=N. */
  /**
   * Content of one type the app may see: current by default, trashed with status=trashed|any, historical
   * with version=N. Another type at that id, or a page restricted without the app, is a 404 as on Confluence.
   */
  function pageFor(id: string, type: DevContentType, statuses: string[], historical: boolean): DevPage {
    const page = store.pageForApp(id);
    if (page.type !== type) throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
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

  // ---- v1 content: removed by Atlassian (CHANGE-864); Confluence answers 410 Gone ----

  router.get('/rest/api/content', gone);
  router.post('/rest/api/content', gone);
  router.get('/rest/api/content/:id', gone);
  router.put('/rest/api/content/:id', gone);
  router.get('/rest/api/content/:id/version/:n', gone);
  router.get('/rest/api/content/:id/child/comment', gone);
  router.get('/rest/api/space/:key', gone);

  // v1, kept by Atlassian (no v2 equivalent). The spec's ContentPermissionRequest allows only read, update and
  // delete, and names groups by id. For content the app cannot see (restricted without the app) this answers
  // 404 like every content lookup of the app: that is our reading, not documented (docs/confluence-api.md).
  router.post('/rest/api/content/:id/permission/check', (req, res) => {
    const parsed = permissionCheckBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid permission check request: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    const page = store.pageForApp(req.params.id);
    const { subject, operation } = parsed.data;
    let denial: string | null;
    if (subject.type === 'user') {
      denial = store.user(subject.identifier) ? store.readDenial(subject.identifier, page) : 'User is not allowed to use Confluence';
      if (!denial && operation === 'delete' && !store.isSpaceAdmin(subject.identifier, page.spaceKey) && store.current(page).authorId !== subject.identifier) {
        denial = 'User does not have permission to the content';
      }
    } else {
      const group = store.state.groups.find((g) => g.id === subject.identifier);
      if (!group) throw new DevhostError(400, `Group with id ${subject.identifier} not found (groups are identified by id)`);
      const space = store.space(page.spaceKey)!;
      const spaceOk = space.permissions.some((p) => p.principal.type === 'group' && p.principal.id === group.id && (p.operation.key === 'read' || p.operation.key === 'administer'));
      denial = !spaceOk
        ? 'Group does not have permission to the space'
        : page.status !== 'current' || (page.restriction && !page.restriction.groups.includes(group.name))
          ? 'Group does not have permission to the content'
          : null;
    }
    res.json({ hasPermission: denial === null, errors: denial ? [{ translation: denial, args: [] }] : [], _links: { base: base(req), context: contextPath(req) } });
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
    const all = store.groupsOf(accountId).map((g) => groupJson(req, g));
    const start = intParam(req.query.start, 0, Number.MAX_SAFE_INTEGER);
    const limit = Math.min(intParam(req.query.limit, 200, 1000) || 200, MEMBEROF_MAX_LIMIT);
    const results = all.slice(start, start + limit);
    const links: Record<string, string> = { base: base(req), context: contextPath(req), self: `${base(req)}/rest/api/user/memberof?accountId=${encodeURIComponent(accountId)}` };
    if (start + limit < all.length) links.next = `/rest/api/user/memberof?accountId=${encodeURIComponent(accountId)}&start=${start + limit}&limit=${limit}`;
    res.json({ results, start, limit, size: results.length, _links: links });
  });

  router.get('/rest/api/search/user', (req, res) => {
    const cql = str(req.query.cql);
    const m = /user(?:\.fullname)?\s*~\s*"([^"]*)"/i.exec(cql) ?? /user\.accountid\s*=\s*"([^"]*)"/i.exec(cql);
    if (!m) throw new DevhostError(400, `The devhost understands only user.fullname~"…" and user.accountid="…" in cql, got: ${cql}`);
    const needle = m[1].toLowerCase();
    const byId = /accountid/i.test(m[0]);
    // CQL `user.fullname~` matches the start of a name or of a word in it (shared/CONNECT.md: "prefix match"):
    // "ali" finds Alice Approver, "lice" does not.
    const prefixOfName = (name: string) => name.toLowerCase().split(/\s+/).some((w) => w.startsWith(needle));
    const found = store.state.users.filter((u) => !u.closed && (byId ? u.accountId === m[1] : prefixOfName(u.displayName)));
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

  const v2Content = (type: DevContentType) => (req: Request, res: Response) => {
    const wanted = str(req.query.version);
    const page = pageFor(req.params.id, type, str(req.query.status || 'current,archived').split(','), !!wanted);
    const v = wanted ? versionOf(page, wanted) : store.current(page);
    const out = v2Page(req, page, v, str(req.query['body-format']));
    if (type === 'blogpost') {
      // BlogPost has no tree position or parent.
      for (const k of ['parentId', 'parentType', 'position', 'ownerId', 'lastOwnerId']) delete out[k];
    }
    res.json(out);
  };
  router.get('/api/v2/pages/:id', v2Content('page'));
  router.get('/api/v2/blogposts/:id', v2Content('blogpost'));

  // v2 spec "Create page": spaceId, status, title, body {representation, value}; 200 with the page. The app
  // writes as itself: the WRITE scope "can create or edit content in Confluence, but not delete them"
  // (developer.atlassian.com/cloud/confluence/scopes-for-connect-apps). The 400 for a title already used in
  // the space is v1 "Create content"'s documented answer; v2's wording of it is unconfirmed.
  router.post('/api/v2/pages', (req, res) => {
    const parsed = createPageBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid page: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    const space = store.spaceById(parsed.data.spaceId);
    if (!space) throw new DevhostError(404, `No space found with id ${parsed.data.spaceId}`);
    const page = store.createPage(space.key, parsed.data.title, parsed.data.body.value, ACCOUNT.app);
    opts.logger.info({ pageId: page.id, spaceKey: space.key }, 'devhost: page created');
    res.json(v2Page(req, page, store.current(page), 'storage'));
  });

  // v2 spec "Update page": id, status, title, body, version {number, message}; the number must be the current
  // one plus one. 409 for any other number is what v1 "Update content" documents for a version conflict; the
  // message text here is the devhost's own (unconfirmed for v2).
  router.put('/api/v2/pages/:id', (req, res) => {
    const parsed = updatePageBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid page: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    if (parsed.data.id !== req.params.id) throw new DevhostError(400, 'The id in the body does not match the path');
    const page = pageFor(req.params.id, 'page', ['current'], false);
    const current = store.current(page);
    if (parsed.data.version.number !== current.number + 1) {
      throw new DevhostError(409, `Version must be incremented on update. Current version is: ${current.number}`);
    }
    const v = store.editPage(page.id, { body: parsed.data.body.value, title: parsed.data.title, as: ACCOUNT.app, message: parsed.data.version.message ?? '' });
    res.json(v2Page(req, page, v, 'storage'));
  });

  // v2 spec "Create footer comment": one of pageId, blogPostId, attachmentId, customContentId; 201 with the comment.
  router.post('/api/v2/footer-comments', (req, res) => {
    const parsed = footerCommentBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid footer comment: ${parsed.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')}`);
    const { pageId, blogPostId, body } = parsed.data;
    if (!pageId && !blogPostId) throw new DevhostError(400, 'The devhost only comments on pages and blog posts');
    const page = pageFor((pageId ?? blogPostId)!, pageId ? 'page' : 'blogpost', ['current'], false);
    if (page.status !== 'current') throw new DevhostError(400, `Cannot comment on ${page.status} content`);
    const comment = store.addComment(page.id, ACCOUNT.app, body.value);
    opts.logger.info({ pageId: page.id, commentId: comment.id }, 'devhost: comment created');
    res.status(201).json({
      id: comment.id,
      status: 'current',
      title: `Re: ${store.current(page).title}`,
      ...(pageId ? { pageId } : { blogPostId }),
      version: { createdAt: comment.createdAt, message: '', number: 1, minorEdit: false, authorId: ACCOUNT.app },
      body: { storage: { representation: 'storage', value: comment.body } },
      _links: { webui: `${webui(page, store.current(page))}?focusedCommentId=${comment.id}#comment-${comment.id}`, base: base(req) },
    });
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

  // ---- Connect app properties (Atlassian's "App properties API" page): only a Connect app whose key matches
  // the path may call them (others get 404); keys of at most 127 characters; 200 "Property updated." or
  // 201 "Property created."; the 32 KB value limit is the documented one for entity properties. ----

  const appOwns = (req: Request) => {
    if (req.params.addonKey !== opts.addonKey) throw new DevhostError(404, 'Add-on not found');
    const key = req.params.propertyKey;
    if (key.length > 127) throw new DevhostError(400, 'The property key cannot be longer than 127 characters.');
    return key;
  };
  router.get('/rest/atlassian-connect/1/addons/:addonKey/properties/:propertyKey', (req, res) => {
    const key = appOwns(req);
    const value = store.appProperty((req as unknown as TenantRequest).devhostTenant.clientKey, key);
    if (value === undefined) throw new DevhostError(404, 'Property with key not found.');
    res.json({ key, value, self: `${base(req)}/rest/atlassian-connect/1/addons/${opts.addonKey}/properties/${encodeURIComponent(key)}` });
  });
  router.put('/rest/atlassian-connect/1/addons/:addonKey/properties/:propertyKey', (req, res) => {
    const key = appOwns(req);
    if (Buffer.byteLength(JSON.stringify(req.body ?? null)) > 32_768) throw new DevhostError(400, 'The property value cannot be larger than 32 KB.');
    const created = store.setAppProperty((req as unknown as TenantRequest).devhostTenant.clientKey, key, req.body);
    res.status(created ? 201 : 200).json(created ? { message: 'Property created.', statusCode: 201 } : { message: 'Property updated.', statusCode: 200 });
  });

  // v2 "Get space role assignments" (Role-Based Access Controls, EAP in the spec): principals are USER, GROUP or
  // ACCESS_CLASS with their role id, cursor-paged like the permissions.
  router.get('/api/v2/spaces/:id/role-assignments', (req, res) => {
    const s = store.spaceById(req.params.id);
    if (!s) throw new DevhostError(404, `Space ${req.params.id} not found`);
    const roleId = str(req.query['role-id']);
    const all = s.roleAssignments.filter((a) => !roleId || a.roleId === roleId);
    const offset = Number.parseInt(Buffer.from(str(req.query.cursor), 'base64url').toString() || '0', 10) || 0;
    const limit = Math.min(intParam(req.query.limit, V2_PAGE_SIZE, V2_PAGE_SIZE) || V2_PAGE_SIZE, V2_PAGE_SIZE);
    const links: Record<string, string> = { base: base(req) };
    if (offset + limit < all.length) {
      const cursor = Buffer.from(String(offset + limit)).toString('base64url');
      links.next = `${contextPath(req)}/api/v2/spaces/${s.id}/role-assignments?cursor=${cursor}&limit=${limit}${roleId ? `&role-id=${encodeURIComponent(roleId)}` : ''}`;
    }
    res.json({ results: all.slice(offset, offset + limit), _links: links });
  });

  router.use((req: Request, _res: Response, next: NextFunction) => next(new DevhostError(404, `null for uri: ${base(req)}${req.path}`)));

  // Confluence-like error JSON (v2 routes answer in v2's error shape).
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof DevhostError ? err.statusCode : (err as { type?: string }).type === 'entity.parse.failed' ? 400 : 500;
    const message = err instanceof DevhostError ? err.message : status === 400 ? 'Could not parse the request body' : 'Internal server error';
    if (status >= 500) opts.logger.error({ err }, 'devhost REST failed');
    const reason = ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 410: 'Gone' } as Record<number, string>)[status] ?? 'Internal Server Error';
    if (req.path.startsWith('/api/v2/')) {
      res.status(status).json({ errors: [{ status, code: reason.toUpperCase().replace(/ /g, '_'), title: reason, detail: message }] });
    } else {
      res.status(status).json({ statusCode: status, data: { authorized: status !== 401, valid: true, errors: [], successful: false }, message, reason });
    }
  });

  return router;
}
