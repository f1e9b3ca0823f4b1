import type { z } from 'zod';
import { NotFoundError, UpstreamError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { ConfluenceTransport, HttpResult, Method } from './signed-http';
import { PageHeadReads } from './page-head-reads';
import type {
  ConfluenceClient,
  ConfluenceGroup,
  ConfluencePage,
  ConfluencePageHead,
  ConfluenceUser,
  ContentRef,
  ContentType,
  ReadAccess,
  SpaceAdmins,
  WrittenPage,
} from './confluence-client';
import {
  appPropertyPutV1,
  appPropertyV1,
  contentListV2,
  contentV2,
  ContentV2,
  footerCommentV2,
  groupPickerV1,
  pageWrittenV2,
  memberOfV1,
  permissionCheckV1,
  roleAssignmentsV2,
  spacePermissionsV2,
  spacesV2,
  spaceV2,
  userSearchV1,
  userV1,
} from './confluence-schemas';


const MAX_ATTEMPTS = 3;
const MAX_RETRY_WAIT_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * ConfluenceClient over app-signed HTTP (signed-http.ts): every call is signed with the tenant's shared secret
 * (JWT, qsh over the path relative to the tenant base URL, which already ends in /wiki).
 * v2 wherever Cloud has one; the v1 calls left are listed, with why, in docs/confluence-api.md.
 */
export class RestConfluenceClient implements ConfluenceClient {
  private readonly spaceKeys = new Map<string, Promise<string>>();
  private readonly heads: PageHeadReads;

  constructor(
    /** The app's key, as installed (the app properties live under it). */
    private readonly appKey: string,
    private readonly logger: Logger,
    /** App-signed HTTP to the tenant's Confluence (signed-http.ts). */
    private readonly transport: ConfluenceTransport,
  ) {
    this.heads = new PageHeadReads({ one: (ck, id, type) => this.getContent(ck, id, type, undefined, false), many: (ck, ids, type) => this.headsOf(ck, ids, type) }, logger);
  }

  private call(clientKey: string, method: Method, url: string, body?: unknown): Promise<HttpResult> {
    return this.transport.call(clientKey, method, url, body).catch((err: unknown) => {
      // The transport's own failures are Confluence's; anything else (the tenant lookup: the database away) is ours.
      if (!(err instanceof UpstreamError)) throw err;
      this.logger.warn({ clientKey, err: err.message }, 'Confluence could not be reached');
      throw new UpstreamError('Confluence could not be reached. Try again in a moment.');
    });
  }

  /**
   * One call, retried politely on 429 and 5xx. 404 → NotFoundError; 410 (a v1 endpoint Atlassian has
   * removed) and anything else → UpstreamError naming the endpoint. The body is parsed with `schema`:
   * an unexpected shape is an UpstreamError naming the endpoint and the field, never an undefined later.
   */
  private async request<S extends z.ZodType>(clientKey: string, method: Method, url: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const endpoint = `${method.toUpperCase()} ${endpointOf(url)}`;
    for (let attempt = 1; ; attempt++) {
      const res = await this.call(clientKey, method, url, body);
      if (res.status >= 200 && res.status < 300) {
        const parsed = schema.safeParse(res.body);
        if (parsed.success) return parsed.data;
        const issue = parsed.error.issues[0];
        this.logger.warn({ clientKey, endpoint, field: issue.path.join('.'), problem: issue.message }, 'Confluence answered an unexpected shape');
        throw new UpstreamError(`Confluence answered ${endpoint} with an unexpected shape (${issue.path.join('.') || 'body'}: ${issue.message})`);
      }
      if (res.status === 404) throw new NotFoundError(`Confluence has nothing at ${endpoint}`);
      if (res.status === 410) {
        this.logger.error({ clientKey, endpoint }, 'Confluence removed an endpoint Attest calls (410 Gone): see docs/confluence-api.md');
        throw new UpstreamError(`Confluence no longer offers ${endpoint} (410 Gone). Attest needs an update: tell your Attest operator.`);
      }
      const retriable = res.status === 429 || res.status >= 500;
      if (!retriable || attempt >= MAX_ATTEMPTS) {
        this.logger.warn({ clientKey, endpoint, status: res.status }, 'Confluence call failed');
        throw new UpstreamError(`Confluence answered ${res.status} for ${endpoint}`);
      }
      const retryAfter = Number(res.headers['retry-after']);
      const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 200 * 2 ** attempt;
      await sleep(Math.min(wait, MAX_RETRY_WAIT_MS));
    }
  }

  /**
   * v2 only (`/api/v2/pages/{id}` or `/api/v2/blogposts/{id}`, storage body): Atlassian has removed the
   * v1 content endpoints. With no type given, a page is tried first and then a blog post. The space key
   * comes from `/api/v2/spaces/{spaceId}` (v2 names spaces by id), cached per tenant.
   */
  async getPage(clientKey: string, pageId: string, opts: { version?: number; type?: ContentType } = {}): Promise<ConfluencePage> {
    if (opts.type) return this.getContent(clientKey, pageId, opts.type, opts.version);
    try {
      return await this.getContent(clientKey, pageId, 'page', opts.version);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      return this.getContent(clientKey, pageId, 'blogpost', opts.version);
    }
  }

  /** Heads asked for while others are read go together: page-head-reads.ts. */
  async getPageHead(clientKey: string, pageId: string, opts: { type?: ContentType } = {}): Promise<ConfluencePageHead> {
    const head = (type: ContentType) => this.heads.get(clientKey, pageId, type);
    if (opts.type) return head(opts.type);
    try {
      return await head('page');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      return head('blogpost');
    }
  }

  private async getContent(clientKey: string, id: string, type: ContentType, version?: number): Promise<ConfluencePage>;
  private async getContent(clientKey: string, id: string, type: ContentType, version: undefined, withBody: false): Promise<ConfluencePageHead>;
  private async getContent(clientKey: string, id: string, type: ContentType, version?: number, withBody = true): Promise<ConfluencePage | ConfluencePageHead> {
    // Without `body-format` v2 sends no body (developer.atlassian.com/cloud/confluence/rest/v2/api-group-page/#api-pages-id-get).
    const q = new URLSearchParams(withBody ? { 'body-format': 'storage' } : {});
    if (version !== undefined) q.set('version', String(version));
    const query = q.toString();
    const raw = await this.request(clientKey, 'get', `/api/v2/${V2_COLLECTION[type]}/${encodeURIComponent(id)}${query ? `?${query}` : ''}`, contentV2);
    const head = await this.headOf(clientKey, raw, type);
    return withBody ? { ...head, body: raw.body?.storage?.value ?? '' } : head;
  }

  /**
   * v2 "Get pages" / "Get blog posts" filtered by `id` (at most 250, comma-separated), one call for them all; no
   * `status`, so the same current and archived content a single read answers. Only what the app may view comes back.
   */
  private async headsOf(clientKey: string, ids: string[], type: ContentType): Promise<Map<string, ConfluencePageHead>> {
    const res = await this.request(clientKey, 'get', `/api/v2/${V2_COLLECTION[type]}?id=${ids.join(',')}&limit=${ids.length}`, contentListV2);
    const wanted = new Set(ids);
    const out = new Map<string, ConfluencePageHead>();
    for (const raw of res.results) if (wanted.has(raw.id)) out.set(raw.id, await this.headOf(clientKey, raw, type));
    return out;
  }

  private async headOf(clientKey: string, raw: ContentV2, type: ContentType): Promise<ConfluencePageHead> {
    return {
      id: raw.id,
      type,
      title: raw.title ?? '',
      spaceId: raw.spaceId,
      spaceKey: await this.spaceKeyOf(clientKey, raw.spaceId),
      version: raw.version.number,
      versionAuthorId: raw.version.authorId ?? null,
      versionCreatedAt: raw.version.createdAt ?? null,
    };
  }

  /** Space keys never change for an id, so they are remembered for the life of the process. */
  private spaceKeyOf(clientKey: string, spaceId: string): Promise<string> {
    const k = JSON.stringify([clientKey, spaceId]);
    let hit = this.spaceKeys.get(k);
    if (!hit) {
      hit = this.request(clientKey, 'get', `/api/v2/spaces/${encodeURIComponent(spaceId)}`, spaceV2).then((s) => s.key);
      hit.catch(() => this.spaceKeys.delete(k));
      this.spaceKeys.set(k, hit);
      if (this.spaceKeys.size > 10_000) this.spaceKeys.delete(this.spaceKeys.keys().next().value as string);
    }
    return hit;
  }

  /**
   * v1 permission check (Cloud has no v2 one). Its spec allows only read/update/delete and answers
   * 404 when the app cannot see the content: then the app can say neither yes nor no (`unknown`).
   * A 403 means the app may not ask at all: an admin-facing UpstreamError, never "the user cannot read".
   */
  async readAccess(clientKey: string, pageId: string, accountId: string): Promise<ReadAccess> {
    try {
      const res = await this.request(clientKey, 'post', `/rest/api/content/${encodeURIComponent(pageId)}/permission/check`, permissionCheckV1, {
        subject: { type: 'user', identifier: accountId },
        operation: 'read',
      });
      return res.hasPermission ? 'granted' : 'denied';
    } catch (err) {
      if (err instanceof NotFoundError) return 'unknown';
      if (err instanceof UpstreamError && /answered 403/.test(err.message)) {
        throw new UpstreamError('Confluence refused to tell Attest who may read this page (403 on the permission check): a Confluence administrator should check that the Attest app is installed with its READ scope.');
      }
      throw err;
    }
  }

  /**
   * v1 `user/memberof`, paged by what the server says (`_links.next`, else `start + size`): Confluence may
   * cap `limit` below what was asked, so a short page does not mean the last one.
   */
  async groupMemberships(clientKey: string, accountId: string): Promise<ConfluenceGroup[]> {
    const groups: ConfluenceGroup[] = [];
    let start = 0;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const res = await this.request(
        clientKey,
        'get',
        `/rest/api/user/memberof?${new URLSearchParams({ accountId, start: String(start), limit: '200' })}`,
        memberOfV1,
      );
      groups.push(...res.results.map((g) => ({ name: g.name, ...(g.id ? { id: String(g.id) } : {}) })));
      const size = res.size ?? res.results.length;
      if (!res._links?.next || size === 0) break;
      start = (res.start ?? start) + size;
    }
    return groups;
  }

  async groupsOf(clientKey: string, accountId: string): Promise<string[]> {
    return (await this.groupMemberships(clientKey, accountId)).map((g) => g.name);
  }

  async isSiteAdmin(clientKey: string, accountId: string): Promise<boolean> {
    try {
      const res = await this.request(clientKey, 'get', `/rest/api/user?${new URLSearchParams({ accountId, expand: 'operations' })}`, userV1);
      return (res.operations ?? []).some((o) => o.operation === 'administer' && o.targetType === 'application');
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /**
   * v2 space permissions, every page (`_links.next`, 250 a page): `administer` held by users, groups
   * (by id) and roles; a role's holders come from the space's role assignments.
   */
  async spaceAdmins(clientKey: string, spaceKey: string): Promise<SpaceAdmins> {
    const spaces = await this.request(clientKey, 'get', `/api/v2/spaces?${new URLSearchParams({ keys: spaceKey })}`, spacesV2);
    const space = spaces.results.find((s) => s.key === spaceKey);
    if (!space) throw new NotFoundError(`no space with key ${spaceKey}`);
    const spaceId = space.id;
    const users = new Set<string>();
    const groups = new Set<string>();
    const roles = new Set<string>();
    await this.eachPage(clientKey, `/api/v2/spaces/${encodeURIComponent(spaceId)}/permissions?limit=250`, spacePermissionsV2, (res) => {
      for (const p of res.results) {
        if (p.operation?.key !== 'administer' || p.operation?.targetType !== 'space' || !p.principal?.id) continue;
        ({ user: users, group: groups, role: roles })[p.principal.type].add(p.principal.id);
      }
    });
    for (const roleId of roles) {
      const q = new URLSearchParams({ 'role-id': roleId, limit: '250' });
      await this.eachPage(clientKey, `/api/v2/spaces/${encodeURIComponent(spaceId)}/role-assignments?${q}`, roleAssignmentsV2, (res) => {
        for (const a of res.results) {
          if (!a.principal.principalId) continue;
          const type = a.principal.principalType.toLowerCase();
          // ACCESS_CLASS principals (e.g. "all licensed users") are not people Attest can name as admins.
          if (type === 'user') users.add(a.principal.principalId);
          if (type === 'group') groups.add(a.principal.principalId);
        }
      });
    }
    return { spaceId, users: [...users], groups: [...groups] };
  }

  /** Follows `_links.next` (site-relative or absolute) for at most MAX_PAGES pages. */
  private async eachPage<S extends z.ZodType<{ _links?: { next?: string | null } | null }>>(
    clientKey: string,
    first: string,
    schema: S,
    each: (page: z.infer<S>) => void,
  ): Promise<void> {
    let next: string | undefined = first;
    for (let pages = 0; next && pages < MAX_PAGES; pages++) {
      const res: z.infer<S> = await this.request(clientKey, 'get', next, schema);
      each(res);
      next = res._links?.next ? relativeToWiki(res._links.next) : undefined;
    }
  }

  async getUser(clientKey: string, accountId: string): Promise<ConfluenceUser | null> {
    try {
      const res = await this.request(clientKey, 'get', `/rest/api/user?${new URLSearchParams({ accountId })}`, userV1);
      return { accountId: res.accountId, displayName: res.displayName ?? res.publicName ?? res.accountId, avatarUrl: res.profilePicture?.path ?? undefined };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  async searchUsers(clientKey: string, query: string): Promise<ConfluenceUser[]> {
    const cql = `user.fullname~"${query.replace(/["\\]/g, '')}"`;
    const res = await this.request(clientKey, 'get', `/rest/api/search/user?${new URLSearchParams({ cql, limit: '20' })}`, userSearchV1);
    return res.results.flatMap((r) =>
      r.user ? [{ accountId: r.user.accountId, displayName: r.user.displayName ?? r.user.publicName ?? r.user.accountId, avatarUrl: r.user.profilePicture?.path ?? undefined }] : [],
    );
  }

  async searchGroups(clientKey: string, query: string): Promise<ConfluenceGroup[]> {
    const res = await this.request(clientKey, 'get', `/rest/api/group/picker?${new URLSearchParams({ query, limit: '20' })}`, groupPickerV1);
    return res.results.map((g) => ({ name: g.name, ...(g.id ? { id: g.id } : {}) }));
  }

  /** Connect app properties: only this app (its own key, its JWT) can read or write them. */
  async getAppProperty(clientKey: string, key: string): Promise<unknown> {
    const res = await this.request(clientKey, 'get', this.appPropertyPath(key), appPropertyV1);
    return res.value;
  }

  async putAppProperty(clientKey: string, key: string, value: unknown): Promise<void> {
    await this.request(clientKey, 'put', this.appPropertyPath(key), appPropertyPutV1, value);
  }

  private appPropertyPath(key: string): string {
    return `/rest/atlassian-connect/1/addons/${encodeURIComponent(this.appKey)}/properties/${encodeURIComponent(key)}`;
  }

  /** v2 `POST /pages`: the space by id (v2 names spaces by id), storage body, current at once. */
  async createPage(clientKey: string, page: { spaceKey: string; title: string; storageBody: string }): Promise<WrittenPage> {
    const spaces = await this.request(clientKey, 'get', `/api/v2/spaces?${new URLSearchParams({ keys: page.spaceKey })}`, spacesV2);
    const space = spaces.results.find((s) => s.key === page.spaceKey);
    if (!space) throw new NotFoundError(`no space with key ${page.spaceKey}`);
    const res = await this.request(clientKey, 'post', '/api/v2/pages', pageWrittenV2, {
      spaceId: space.id,
      status: 'current',
      title: page.title,
      body: { representation: 'storage', value: page.storageBody },
    });
    return written(res);
  }

  /** v2 `PUT /pages/{id}`: a new version; Confluence refuses (409) a number that is not the current one plus one. */
  async updatePage(clientKey: string, pageId: string, page: { title: string; storageBody: string; version: number; message: string }): Promise<WrittenPage> {
    const res = await this.request(clientKey, 'put', `/api/v2/pages/${encodeURIComponent(pageId)}`, pageWrittenV2, {
      id: pageId,
      status: 'current',
      title: page.title,
      body: { representation: 'storage', value: page.storageBody },
      version: { number: page.version, message: page.message },
    });
    return written(res);
  }

  /** v2 footer comment on a page (`pageId`) or a blog post (`blogPostId`). */
  async createComment(clientKey: string, content: ContentRef, storageBody: string): Promise<{ id: string }> {
    const res = await this.request(clientKey, 'post', '/api/v2/footer-comments', footerCommentV2, {
      [content.type === 'blogpost' ? 'blogPostId' : 'pageId']: content.id,
      body: { representation: 'storage', value: storageBody },
    });
    return { id: res.id };
  }
}

const V2_COLLECTION: Record<ContentType, string> = { page: 'pages', blogpost: 'blogposts' };

function written(res: z.infer<typeof pageWrittenV2>): WrittenPage {
  const webui = res._links?.webui ?? null;
  return { id: res.id, version: res.version.number, url: webui ? `${res._links?.base ?? ''}${webui}` : null };
}
const MAX_PAGES = 100;

/** The endpoint of a URL for messages and logs: the path without its query, ids kept (they are not secret). */
function endpointOf(url: string): string {
  return url.split('?')[0];
}

/** `_links.next` comes back as "/wiki/api/v2/..." or absolute; ACE wants the path below the tenant base. */
function relativeToWiki(link: string): string {
  const path = link.replace(/^https?:\/\/[^/]+/, '');
  const idx = path.indexOf('/api/v2/');
  return idx >= 0 ? path.slice(idx) : path;
}
