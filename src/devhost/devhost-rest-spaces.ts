/** Confluence's v2 space endpoints (spaces, permissions, role assignments) and Connect app properties. */
import type { Request, Router } from 'express';
import { ACCOUNT } from './devhost-seed';
import { DevhostError } from './devhost-state';
import type { DevSpace } from './devhost-types';
import { intParam, RestContext, str, TenantRequest, V2_PAGE_SIZE } from './devhost-rest-common';

export function mountSpacesAndProperties(router: Router, ctx: RestContext): void {
  const { store, base, contextPath, addonKey } = ctx;

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
    if (req.params.addonKey !== addonKey) throw new DevhostError(404, 'Add-on not found');
    const key = req.params.propertyKey;
    if (key.length > 127) throw new DevhostError(400, 'The property key cannot be longer than 127 characters.');
    return key;
  };
  router.get('/rest/atlassian-connect/1/addons/:addonKey/properties/:propertyKey', (req, res) => {
    const key = appOwns(req);
    const value = store.appProperty((req as unknown as TenantRequest).devhostTenant.clientKey, key);
    if (value === undefined) throw new DevhostError(404, 'Property with key not found.');
    res.json({ key, value, self: `${base(req)}/rest/atlassian-connect/1/addons/${addonKey}/properties/${encodeURIComponent(key)}` });
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
}
