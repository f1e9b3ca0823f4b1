/** The devhost's model of a Confluence site: what Confluence would know, in the shapes we need. */

export interface DevUser {
  accountId: string;
  displayName: string;
  email: string;
  /** Confluence administrator ("administer" on the application). */
  siteAdmin: boolean;
  /** Shown in the view-as switcher and the users-by-role map. */
  role: string;
  /** A closed Atlassian account (personal data reporting answers `closed`). */
  closed?: boolean;
  /** The profile's language and time zone, as AP.user.getLocale / getTimeZone give them to iframes. */
  locale?: string;
  timeZone?: string;
}

export interface DevGroup {
  id: string;
  name: string;
  members: string[];
}

export interface SpacePermission {
  id: string;
  /** Confluence's v2 principals: a user, a group (by id) or an RBAC space role (by role id). */
  principal: { type: 'user' | 'group' | 'role'; id: string };
  operation: { key: string; targetType: 'space' };
}

/** Who holds a space role (v2 role assignments; principal types as Confluence spells them). */
export interface RoleAssignment {
  roleId: string;
  principal: { principalType: 'USER' | 'GROUP'; principalId: string };
}

export interface DevSpace {
  id: string;
  key: string;
  name: string;
  permissions: SpacePermission[];
  roleAssignments: RoleAssignment[];
}

export interface PageVersion {
  number: number;
  title: string;
  body: string;
  authorId: string;
  createdAt: string;
  message: string;
}

/**
 * Who may read a restricted page: only these users and members of these groups. As on Confluence, the
 * app's own account is bound by it too: it sees the page only when its account id is among `users`.
 */
export interface ReadRestriction {
  users: string[];
  groups: string[];
}

export type PageStatus = 'current' | 'trashed' | 'removed';

export type DevContentType = 'page' | 'blogpost';

export interface DevPage {
  id: string;
  /** A page or a blog post: both carry macros, versions, restrictions and comments the same way. */
  type: DevContentType;
  spaceKey: string;
  status: PageStatus;
  /** Oldest first; the last one is the current version. */
  versions: PageVersion[];
  restriction: ReadRestriction | null;
}

export interface DevComment {
  id: string;
  pageId: string;
  authorId: string;
  body: string;
  createdAt: string;
}

export interface DevState {
  /** Format of state.json; a different number reseeds. */
  format: number;
  users: DevUser[];
  groups: DevGroup[];
  spaces: DevSpace[];
  pages: DevPage[];
  comments: DevComment[];
  nextId: number;
  /** Connect app properties, per installation (clientKey) and property key: only the app reads them. */
  appProperties?: Record<string, Record<string, unknown>>;
}

/** One installation of the add-on into this site. */
export interface DevTenant {
  clientKey: string;
  sharedSecret: string;
  /** The tenant base URL Confluence sends in the install payload (ends in /wiki). */
  baseUrl: string;
  installed: boolean;
}

/** Persisted in keys.json (mode 0600): the signing key pair and the tenants. */
export interface DevKeys {
  kid: string;
  privateKeyPem: string;
  publicKeyPem: string;
  tenants: DevTenant[];
}
