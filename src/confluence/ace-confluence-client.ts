import type { AddOn } from 'atlassian-connect-express';
import { NotFoundError, UpstreamError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type {
  ConfluenceClient,
  ConfluenceGroup,
  ConfluencePage,
  ConfluenceUser,
  SpaceAdmins,
} from './confluence-client';

interface HttpResult {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

type Method = 'get' | 'post';

const MAX_ATTEMPTS = 3;
const MAX_RETRY_WAIT_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * ConfluenceClient over ACE's httpClient: every call is signed with the tenant's shared secret
 * (JWT, qsh over the path relative to the tenant base URL, which already ends in /wiki).
 * Retries politely on 429 (Retry-After) and 5xx; 404 → NotFoundError; anything else → UpstreamError.
 */
export class AceConfluenceClient implements ConfluenceClient {
  constructor(
    private readonly addon: AddOn,
    private readonly logger: Logger,
  ) {}

  private call(clientKey: string, method: Method, url: string, body?: unknown): Promise<HttpResult> {
    const http = this.addon.httpClient({ clientKey }) as unknown as Record<
      Method,
      (opts: object, cb: (err: unknown, res: { statusCode: number; headers: HttpResult['headers'] }, body: unknown) => void) => void
    >;
    return new Promise((resolve, reject) => {
      const opts: Record<string, unknown> = { url, json: true, headers: { Accept: 'application/json' } };
      if (body !== undefined) opts.body = body;
      // ACE wraps the request library: the callback carries the response, its promise does not.
      const ret = http[method](opts, (err, res, resBody) => {
        if (err) reject(new UpstreamError(`Confluence could not be reached: ${String((err as Error)?.message ?? err)}`));
        else resolve({ status: res.statusCode, body: resBody, headers: res.headers });
      }) as unknown;
      if (ret && typeof (ret as Promise<unknown>).catch === 'function') {
        (ret as Promise<unknown>).catch((err) => reject(new UpstreamError(`Confluence call failed: ${String(err)}`)));
      }
    });
  }

  private async request<T>(clientKey: string, method: Method, url: string, body?: unknown): Promise<T> {
    const path = url.split('?')[0];
    for (let attempt = 1; ; attempt++) {
      const res = await this.call(clientKey, method, url, body);
      if (res.status >= 200 && res.status < 300) return res.body as T;
      if (res.status === 404) throw new NotFoundError(`Confluence has nothing at ${path}`);
      const retriable = res.status === 429 || res.status >= 500;
      if (!retriable || attempt >= MAX_ATTEMPTS) {
        this.logger.warn({ clientKey, path, status: res.status }, 'Confluence call failed');
        throw new UpstreamError(`Confluence answered ${res.status} for ${path}`);
      }
      const retryAfter = Number(res.headers['retry-after']);
      const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 200 * 2 ** attempt;
      await sleep(Math.min(wait, MAX_RETRY_WAIT_MS));
    }
  }

  /**
   * The v1 content API (it names the space key and the version's author); a site that answers it with
   * 404 is asked through v2 (`/api/v2/pages/{id}?body-format=storage`) before the page counts as gone.
   */
  async getPage(clientKey: string, pageId: string, version?: number): Promise<ConfluencePage> {
    try {
      return await this.getPageV1(clientKey, pageId, version);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      return this.getPageV2(clientKey, pageId, version);
    }
  }

  private async getPageV1(clientKey: string, pageId: string, version?: number): Promise<ConfluencePage> {
    const q = new URLSearchParams({ expand: 'version,body.storage,space,history' });
    if (version !== undefined) {
      q.set('status', 'historical');
      q.set('version', String(version));
    }
    const raw = await this.request<{
      id: string | number;
      title: string;
      space?: { key?: string };
      version?: { number?: number; by?: { accountId?: string }; authorId?: string; when?: string; createdAt?: string };
      body?: { storage?: { value?: string } };
    }>(clientKey, 'get', `/rest/api/content/${encodeURIComponent(pageId)}?${q}`);
    if (!raw?.version?.number) throw new UpstreamError('Confluence returned a page without a version');
    return {
      id: String(raw.id),
      title: String(raw.title ?? ''),
      spaceKey: raw.space?.key ?? '',
      version: raw.version.number,
      versionAuthorId: raw.version.by?.accountId ?? raw.version.authorId ?? null,
      versionCreatedAt: raw.version.when ?? raw.version.createdAt ?? null,
      body: raw.body?.storage?.value ?? '',
    };
  }

  private async getPageV2(clientKey: string, pageId: string, version?: number): Promise<ConfluencePage> {
    const q = new URLSearchParams({ 'body-format': 'storage' });
    if (version !== undefined) q.set('version', String(version));
    const raw = await this.request<{
      id: string | number;
      title?: string;
      version?: { number?: number; authorId?: string; createdAt?: string };
      body?: { storage?: { value?: string } };
    }>(clientKey, 'get', `/api/v2/pages/${encodeURIComponent(pageId)}?${q}`);
    if (!raw?.version?.number) throw new UpstreamError('Confluence returned a page without a version');
    return {
      id: String(raw.id),
      title: String(raw.title ?? ''),
      // v2 names the space by id only; callers take the key from the signed macro parameters.
      spaceKey: '',
      version: raw.version.number,
      versionAuthorId: raw.version.authorId ?? null,
      versionCreatedAt: raw.version.createdAt ?? null,
      body: raw.body?.storage?.value ?? '',
    };
  }

  async canRead(clientKey: string, pageId: string, accountId: string): Promise<boolean> {
    try {
      const res = await this.request<{ hasPermission?: boolean }>(
        clientKey,
        'post',
        `/rest/api/content/${encodeURIComponent(pageId)}/permission/check`,
        { subject: { type: 'user', identifier: accountId }, operation: 'read' },
      );
      return res?.hasPermission === true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async groupMemberships(clientKey: string, accountId: string): Promise<ConfluenceGroup[]> {
    const groups: ConfluenceGroup[] = [];
    for (let start = 0; start < 10_000; start += 200) {
      const res = await this.request<{ results?: Array<{ name: string; id?: string }> }>(
        clientKey,
        'get',
        `/rest/api/user/memberof?${new URLSearchParams({ accountId, start: String(start), limit: '200' })}`,
      );
      const page = res?.results ?? [];
      groups.push(...page.map((g) => ({ name: g.name, ...(g.id ? { id: String(g.id) } : {}) })));
      if (page.length < 200) break;
    }
    return groups;
  }

  async groupsOf(clientKey: string, accountId: string): Promise<string[]> {
    return (await this.groupMemberships(clientKey, accountId)).map((g) => g.name);
  }

  async isSiteAdmin(clientKey: string, accountId: string): Promise<boolean> {
    try {
      const res = await this.request<{ operations?: Array<{ operation: string; targetType: string }> }>(
        clientKey,
        'get',
        `/rest/api/user?${new URLSearchParams({ accountId, expand: 'operations' })}`,
      );
      return (res?.operations ?? []).some((o) => o.operation === 'administer' && o.targetType === 'application');
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async spaceAdmins(clientKey: string, spaceKey: string): Promise<SpaceAdmins> {
    const spaces = await this.request<{ results?: Array<{ id: string | number; key: string }> }>(
      clientKey,
      'get',
      `/api/v2/spaces?${new URLSearchParams({ keys: spaceKey })}`,
    );
    const space = (spaces?.results ?? []).find((s) => s.key === spaceKey);
    if (!space) throw new NotFoundError(`no space with key ${spaceKey}`);
    const spaceId = String(space.id);
    const users = new Set<string>();
    const groups = new Set<string>();
    let next: string | undefined = `/api/v2/spaces/${encodeURIComponent(spaceId)}/permissions`;
    for (let pages = 0; next && pages < 100; pages++) {
      const res: {
        results?: Array<{ principal?: { type: string; id: string }; operation?: { key: string; targetType: string } }>;
        _links?: { next?: string };
      } = await this.request(clientKey, 'get', next);
      for (const p of res?.results ?? []) {
        if (p.operation?.key !== 'administer' || p.operation?.targetType !== 'space' || !p.principal) continue;
        if (p.principal.type === 'user') users.add(p.principal.id);
        if (p.principal.type === 'group') groups.add(p.principal.id);
      }
      next = res?._links?.next ? relativeToWiki(res._links.next) : undefined;
    }
    return { spaceId, users: [...users], groups: [...groups] };
  }

  async getUser(clientKey: string, accountId: string): Promise<ConfluenceUser | null> {
    try {
      const res = await this.request<{ accountId: string; displayName?: string; publicName?: string; profilePicture?: { path?: string } }>(
        clientKey,
        'get',
        `/rest/api/user?${new URLSearchParams({ accountId })}`,
      );
      return { accountId: res.accountId, displayName: res.displayName ?? res.publicName ?? res.accountId, avatarUrl: res.profilePicture?.path };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  async searchUsers(clientKey: string, query: string): Promise<ConfluenceUser[]> {
    const cql = `user.fullname~"${query.replace(/["\\]/g, '')}"`;
    const res = await this.request<{ results?: Array<{ user?: { accountId: string; displayName?: string; publicName?: string; profilePicture?: { path?: string } } }> }>(
      clientKey,
      'get',
      `/rest/api/search/user?${new URLSearchParams({ cql, limit: '20' })}`,
    );
    return (res?.results ?? [])
      .filter((r) => r.user?.accountId)
      .map((r) => ({
        accountId: r.user!.accountId,
        displayName: r.user!.displayName ?? r.user!.publicName ?? r.user!.accountId,
        avatarUrl: r.user!.profilePicture?.path,
      }));
  }

  async searchGroups(clientKey: string, query: string): Promise<ConfluenceGroup[]> {
    const res = await this.request<{ results?: Array<{ name: string; id?: string }> }>(
      clientKey,
      'get',
      `/rest/api/group/picker?${new URLSearchParams({ query, limit: '20' })}`,
    );
    return (res?.results ?? []).map((g) => ({ name: g.name, id: g.id }));
  }

  async createComment(clientKey: string, pageId: string, storageBody: string): Promise<{ id: string }> {
    const res = await this.request<{ id: string | number }>(clientKey, 'post', '/rest/api/content', {
      type: 'comment',
      container: { id: pageId, type: 'page' },
      body: { storage: { value: storageBody, representation: 'storage' } },
    });
    return { id: String(res.id) };
  }
}

/** `_links.next` comes back as "/wiki/api/v2/..." or absolute; ACE wants the path below the tenant base. */
function relativeToWiki(link: string): string {
  const path = link.replace(/^https?:\/\/[^/]+/, '');
  const idx = path.indexOf('/api/v2/');
  return idx >= 0 ? path.slice(idx) : path;
}
