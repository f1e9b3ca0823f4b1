/** Confluence's v1 user, group and content-permission endpoints as the add-on calls them (kept by Atlassian: no v2 equivalent). */
import type { Request, Router } from 'express';
import { z } from 'zod';
import { ACCOUNT } from './devhost-seed';
import { DevhostError } from './devhost-state';
import type { DevUser } from './devhost-types';
import { expands, intParam, RestContext, str, zodIssues } from './devhost-rest-common';

const APP_USER: DevUser = { accountId: ACCOUNT.app, displayName: 'Attest', email: '', siteAdmin: false, role: 'app' };

/** The v1 spec's ContentPermissionRequest: only these three operations. */
const permissionCheckBody = z.object({
  subject: z.object({ type: z.enum(['user', 'group']), identifier: z.string().min(1) }),
  operation: z.enum(['read', 'update', 'delete']),
});

/**
 * Confluence may answer memberof with fewer rows than asked (its `limit` echoes the cap): the client must page
 * by `size`/`_links.next`, never by "fewer rows than I asked for" (issue 10; shared/CONNECT.md). The cap's real
 * value is not documented; 2 makes every multi-group user take several pages here.
 */
export const MEMBEROF_MAX_LIMIT = 2;

export function mountUsersAndGroups(router: Router, ctx: RestContext): void {
  const { store, base, contextPath } = ctx;

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

  // v1, kept by Atlassian (no v2 equivalent). The spec's ContentPermissionRequest allows only read, update and
  // delete, and names groups by id. For content the app cannot see (restricted without the app) this answers
  // 404 like every content lookup of the app: that is our reading, not documented (docs/confluence-api.md).
  router.post('/rest/api/content/:id/permission/check', (req, res) => {
    const parsed = permissionCheckBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid permission check request: ${zodIssues(parsed.error)}`);
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
}
