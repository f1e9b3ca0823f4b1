import type { Clock } from '../lib/clock';
import type { ConfluenceClient, ConfluenceGroup, ConfluencePage, ConfluencePageHead, ConfluenceUser, ContentRef, ContentType, ReadAccess, SpaceAdmins, WrittenPage } from './confluence-client';

/** A small time-bounded map; oldest entries go first when it is full. */
export class TtlCache<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();
  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.clock.now().getTime();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.entries.delete(key);
    this.entries.set(key, { at: now, value });
    // A failed answer is not remembered.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Permission-like answers are kept for at most `ttlMs` (≤ 60 s), per tenant and user (and page/space). */
export const MAX_PERMISSION_CACHE_MS = 60_000;

export class CachedConfluenceClient implements ConfluenceClient {
  private readonly reads: TtlCache<ReadAccess>;
  private readonly groups: TtlCache<ConfluenceGroup[]>;
  private readonly siteAdmins: TtlCache<boolean>;
  private readonly spaceAdminSets: TtlCache<SpaceAdmins>;
  private readonly users: TtlCache<ConfluenceUser | null>;

  constructor(
    private readonly inner: ConfluenceClient,
    clock: Clock,
    ttlMs = MAX_PERMISSION_CACHE_MS,
  ) {
    const ttl = Math.min(ttlMs, MAX_PERMISSION_CACHE_MS);
    this.reads = new TtlCache(clock, ttl);
    this.groups = new TtlCache(clock, ttl);
    this.siteAdmins = new TtlCache(clock, ttl);
    this.spaceAdminSets = new TtlCache(clock, ttl);
    this.users = new TtlCache(clock, 5 * ttl);
  }

  getPage(clientKey: string, pageId: string, opts?: { version?: number; type?: ContentType }): Promise<ConfluencePage> {
    return this.inner.getPage(clientKey, pageId, opts);
  }
  getPageHead(clientKey: string, pageId: string, opts?: { type?: ContentType }): Promise<ConfluencePageHead> {
    return this.inner.getPageHead(clientKey, pageId, opts);
  }
  readAccess(clientKey: string, pageId: string, accountId: string): Promise<ReadAccess> {
    return this.reads.get(key(clientKey, accountId, pageId), () => this.inner.readAccess(clientKey, pageId, accountId));
  }
  groupMemberships(clientKey: string, accountId: string): Promise<ConfluenceGroup[]> {
    return this.groups.get(key(clientKey, accountId), () => this.inner.groupMemberships(clientKey, accountId));
  }
  async groupsOf(clientKey: string, accountId: string): Promise<string[]> {
    return (await this.groupMemberships(clientKey, accountId)).map((g) => g.name);
  }
  isSiteAdmin(clientKey: string, accountId: string): Promise<boolean> {
    return this.siteAdmins.get(key(clientKey, accountId), () => this.inner.isSiteAdmin(clientKey, accountId));
  }
  spaceAdmins(clientKey: string, spaceKey: string): Promise<SpaceAdmins> {
    return this.spaceAdminSets.get(key(clientKey, spaceKey), () => this.inner.spaceAdmins(clientKey, spaceKey));
  }
  getUser(clientKey: string, accountId: string): Promise<ConfluenceUser | null> {
    return this.users.get(key(clientKey, accountId), () => this.inner.getUser(clientKey, accountId));
  }
  searchUsers(clientKey: string, query: string): Promise<ConfluenceUser[]> {
    return this.inner.searchUsers(clientKey, query);
  }
  searchGroups(clientKey: string, query: string): Promise<ConfluenceGroup[]> {
    return this.inner.searchGroups(clientKey, query);
  }
  getAppProperty(clientKey: string, key: string): Promise<unknown> {
    return this.inner.getAppProperty(clientKey, key);
  }
  putAppProperty(clientKey: string, key: string, value: unknown): Promise<void> {
    return this.inner.putAppProperty(clientKey, key, value);
  }
  createPage(clientKey: string, page: { spaceKey: string; title: string; storageBody: string }): Promise<WrittenPage> {
    return this.inner.createPage(clientKey, page);
  }

  updatePage(clientKey: string, pageId: string, page: { title: string; storageBody: string; version: number; message: string }): Promise<WrittenPage> {
    return this.inner.updatePage(clientKey, pageId, page);
  }

  createComment(clientKey: string, content: ContentRef, storageBody: string): Promise<{ id: string }> {
    return this.inner.createComment(clientKey, content, storageBody);
  }
}

function key(...parts: string[]): string {
  return JSON.stringify(parts);
}
