/** Everything Attest asks of Confluence. Reached only through this interface (STYLE.md #7). */
export interface ConfluencePage {
  id: string;
  title: string;
  spaceKey: string;
  version: number;
  /** accountId of whoever made this version. */
  versionAuthorId: string | null;
  versionCreatedAt: string | null;
  /** Storage-format body of this version. */
  body: string;
}

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

export interface ConfluenceClient {
  /** The page at its current version, or at `version` when given. NotFoundError when absent. */
  getPage(clientKey: string, pageId: string, version?: number): Promise<ConfluencePage>;
  canRead(clientKey: string, pageId: string, accountId: string): Promise<boolean>;
  /** The user's groups with name and id (space permissions name groups by id, macros by name). */
  groupMemberships(clientKey: string, accountId: string): Promise<ConfluenceGroup[]>;
  /** The names of the user's groups. */
  groupsOf(clientKey: string, accountId: string): Promise<string[]>;
  isSiteAdmin(clientKey: string, accountId: string): Promise<boolean>;
  spaceAdmins(clientKey: string, spaceKey: string): Promise<SpaceAdmins>;
  getUser(clientKey: string, accountId: string): Promise<ConfluenceUser | null>;
  searchUsers(clientKey: string, query: string): Promise<ConfluenceUser[]>;
  searchGroups(clientKey: string, query: string): Promise<ConfluenceGroup[]>;
  /** Posts a page comment (storage format); mentions in it notify people. */
  createComment(clientKey: string, pageId: string, storageBody: string): Promise<{ id: string }>;
}

/**
 * A space admin: listed directly, or through one of their groups. Confluence's space permissions name
 * a group principal by its id; a group without an id in the membership answer is matched by name.
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
  return groups.some((g) => (g.id !== undefined && admins.groups.includes(g.id)) || admins.groups.includes(g.name));
}
