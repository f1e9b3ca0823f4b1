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
}

export interface DevGroup {
  id: string;
  name: string;
  members: string[];
}

export interface SpacePermission {
  id: string;
  principal: { type: 'user' | 'group'; id: string };
  operation: { key: string; targetType: 'space' };
}

export interface DevSpace {
  id: string;
  key: string;
  name: string;
  permissions: SpacePermission[];
}

export interface PageVersion {
  number: number;
  title: string;
  body: string;
  authorId: string;
  createdAt: string;
  message: string;
}

/** Who may read a restricted page: only these users and members of these groups. */
export interface ReadRestriction {
  users: string[];
  groups: string[];
}

export type PageStatus = 'current' | 'trashed' | 'removed';

export interface DevPage {
  id: string;
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
