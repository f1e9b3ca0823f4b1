/** Everything Attest asks of Confluence. Reached only through this interface (../shared/STYLE.md, rule 7). */

/** The two kinds of content the Approvals macro can sit on (Confluence's `page.type` context value). */
export type ContentType = 'page' | 'blogpost';
export const CONTENT_TYPES: readonly ContentType[] = ['page', 'blogpost'];

export interface ConfluencePage {
  id: string;
  type: ContentType;
  title: string;
  spaceId: string;
  spaceKey: string;
  version: number;
  /** accountId of whoever made this version. */
  versionAuthorId: string | null;
  versionCreatedAt: string | null;
  /** Storage-format body of this version. */
  body: string;
}

/** A page or blog post without its body: where it is and which version is current. */
export type ConfluencePageHead = Omit<ConfluencePage, 'body'>;

export interface ConfluenceUser {
  accountId: string;
  displayName: string;
  avatarUrl?: string;
}

export interface ConfluenceGroup {
  name: string;
  id?: string;
}

export interface SpaceAdmins {
  spaceId: string;
  users: string[];
  groups: string[];
}

/**
 * Whether a user may read a page, as Confluence's permission check answers it for the app:
 * `unknown` when the app itself cannot see the page (Confluence answers 404, e.g. a page restricted to
 * people the app is not among): the app can then say neither yes nor no.
 */
export type ReadAccess = 'granted' | 'denied' | 'unknown';

export interface ContentRef {
  id: string;
  type: ContentType;
}

export interface ConfluenceClient {
  /**
   * The page or blog post at its current version, or at `version` when given (v2 REST). NotFoundError
   * when Confluence has nothing the app can see at that id (absent, or restricted from the app).
   */
  getPage(clientKey: string, pageId: string, opts?: { version?: number; type?: ContentType }): Promise<ConfluencePage>;
  /**
   * The current version of the page or blog post without its body (v2 REST without `body-format`: Confluence
   * then sends no body, which on a long page is most of the answer). NotFoundError as getPage.
   */
  getPageHead(clientKey: string, pageId: string, opts?: { type?: ContentType }): Promise<ConfluencePageHead>;
  readAccess(clientKey: string, pageId: string, accountId: string): Promise<ReadAccess>;
  /** The user's groups with name and id (space permissions name groups by id, macros by name). */
  groupMemberships(clientKey: string, accountId: string): Promise<ConfluenceGroup[]>;
  /** The names of the user's groups. */
  groupsOf(clientKey: string, accountId: string): Promise<string[]>;
  isSiteAdmin(clientKey: string, accountId: string): Promise<boolean>;
  spaceAdmins(clientKey: string, spaceKey: string): Promise<SpaceAdmins>;
  getUser(clientKey: string, accountId: string): Promise<ConfluenceUser | null>;
  searchUsers(clientKey: string, query: string): Promise<ConfluenceUser[]>;
  searchGroups(clientKey: string, query: string): Promise<ConfluenceGroup[]>;
  /** The value of one of the app's own properties on the tenant's site; NotFoundError when unset. */
  getAppProperty(clientKey: string, key: string): Promise<unknown>;
  /** Sets one of the app's own properties (JSON, at most 32 KB). */
  putAppProperty(clientKey: string, key: string, value: unknown): Promise<void>;
  /** Posts a footer comment (storage format) on a page or blog post; mentions in it notify people. */
  createComment(clientKey: string, content: ContentRef, storageBody: string): Promise<{ id: string }>;
  /** Creates a page (storage format) at the top of a space, as the app; NotFoundError for an unknown space. */
  createPage(clientKey: string, page: { spaceKey: string; title: string; storageBody: string }): Promise<WrittenPage>;
  /** Writes version `version` of a page (the current one plus one; Confluence answers 409 otherwise). */
  updatePage(clientKey: string, pageId: string, page: { title: string; storageBody: string; version: number; message: string }): Promise<WrittenPage>;
}

export interface WrittenPage {
  id: string;
  version: number;
  /** The page's address in Confluence (absolute when Confluence says its base), for people. */
  url: string | null;
}

/**
 * A space admin: listed directly, or through one of their groups. Confluence's space permissions name
 * a group principal by its id, so groups are matched by id only: a group whose name equals an admin
 * group's id grants nothing. (`memberof` on Cloud always carries ids; a group without one never matches.)
 */
export async function isSpaceAdmin(
  client: ConfluenceClient,
  clientKey: string,
  spaceKey: string,
  accountId: string,
): Promise<boolean> {
  if (!accountId) return false;
  const admins = await client.spaceAdmins(clientKey, spaceKey);
  if (admins.users.includes(accountId)) return true;
  if (!admins.groups.length) return false;
  const groups = await client.groupMemberships(clientKey, accountId);
  return groups.some((g) => g.id !== undefined && admins.groups.includes(g.id));
}

/** Where a person opens the page or blog post a workflow is on (relative to the tenant's base URL). */
export function contentUrl(hostBaseUrl: string, c: { spaceKey: string; pageId: string; contentType: ContentType }): string {
  const kind = c.contentType === 'blogpost' ? 'blog' : 'pages';
  return `${hostBaseUrl.replace(/\/$/, '')}/spaces/${encodeURIComponent(c.spaceKey)}/${kind}/${encodeURIComponent(c.pageId)}`;
}
