import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../lib/clock';
import { ACCOUNT, seedState, STATE_FORMAT } from './devhost-seed';
import type { DevComment, DevGroup, DevKeys, DevPage, DevSpace, DevState, DevTenant, DevUser, PageStatus, PageVersion } from './devhost-types';

const KEYS_FILE = 'keys.json';
const STATE_FILE = 'state.json';

/** Writes through a temporary file so a crash never leaves half a JSON document. */
function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function readJson<T>(file: string): T | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function newSharedSecret(): string {
  return randomBytes(32).toString('base64url');
}

export class DevhostError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'DevhostError';
  }
}

/**
 * The devhost's site: keys and tenants in `keys.json`, users/spaces/pages in `state.json`, both under
 * `<dataDir>/devhost/` (mode 0600). Missing or unreadable files are created from the seed, so a fresh
 * checkout gets a working site and a restart keeps its tenant and page edits.
 */
export class DevhostStore {
  readonly dir: string;
  keys: DevKeys;
  state: DevState;

  constructor(
    dataDir: string,
    private readonly clock: Clock,
    primaryBaseUrl: string,
  ) {
    this.dir = path.join(dataDir, 'devhost');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const stored = readJson<DevKeys>(path.join(this.dir, KEYS_FILE));
    // Shared secrets are never written to disk: after a restart each tenant gets a new one and is
    // installed again (the server does that at start), as a Confluence reinstall would.
    this.keys = stored
      ? { ...stored, tenants: stored.tenants.map((t) => (t.sharedSecret ? t : { ...t, sharedSecret: newSharedSecret(), installed: false })) }
      : this.createKeys(primaryBaseUrl);
    // The add-on may move port between runs: the primary tenant follows the current base URL.
    if (this.keys.tenants[0].baseUrl !== primaryBaseUrl) {
      this.keys.tenants[0].baseUrl = primaryBaseUrl;
      this.saveKeys();
    }
    const state = readJson<DevState>(path.join(this.dir, STATE_FILE));
    this.state = state && state.format === STATE_FORMAT ? state : seedState();
    if (this.state !== state) this.save();
  }

  private createKeys(baseUrl: string): DevKeys {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keys: DevKeys = {
      kid: `devhost-${randomBytes(8).toString('hex')}`,
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      tenants: [{ clientKey: randomUUID(), sharedSecret: newSharedSecret(), baseUrl, installed: false }],
    };
    this.keys = keys;
    this.saveKeys();
    return keys;
  }

  saveKeys(): void {
    writeJson(path.join(this.dir, KEYS_FILE), {
      ...this.keys,
      tenants: this.keys.tenants.map(({ sharedSecret: _secret, ...rest }) => rest),
    });
  }

  save(): void {
    writeJson(path.join(this.dir, STATE_FILE), this.state);
  }

  // ---- tenants ----

  get primary(): DevTenant {
    return this.keys.tenants[0];
  }

  tenant(clientKey: string): DevTenant | undefined {
    return this.keys.tenants.find((t) => t.clientKey === clientKey);
  }

  upsertTenant(t: DevTenant): DevTenant {
    const i = this.keys.tenants.findIndex((x) => x.clientKey === t.clientKey);
    if (i >= 0) this.keys.tenants[i] = t;
    else this.keys.tenants.push(t);
    this.saveKeys();
    return t;
  }

  // ---- directory ----

  user(accountId: string): DevUser | undefined {
    return this.state.users.find((u) => u.accountId === accountId);
  }

  group(nameOrId: string): DevGroup | undefined {
    return this.state.groups.find((g) => g.name === nameOrId || g.id === nameOrId);
  }

  groupsOf(accountId: string): DevGroup[] {
    return this.state.groups.filter((g) => g.members.includes(accountId));
  }

  addToGroup(accountId: string, groupName: string): DevGroup {
    let g = this.group(groupName);
    if (!g) {
      g = { id: randomUUID(), name: groupName, members: [] };
      this.state.groups.push(g);
    }
    if (!g.members.includes(accountId)) g.members.push(accountId);
    this.save();
    return g;
  }

  removeFromGroup(accountId: string, groupName: string): void {
    const g = this.group(groupName);
    if (g) g.members = g.members.filter((m) => m !== accountId);
    this.save();
  }

  space(key: string): DevSpace | undefined {
    return this.state.spaces.find((s) => s.key === key);
  }

  spaceById(id: string): DevSpace | undefined {
    return this.state.spaces.find((s) => s.id === id);
  }

  page(id: string): DevPage | undefined {
    return this.state.pages.find((p) => p.id === id && p.status !== 'removed');
  }

  /** The page or a DevhostError(404). */
  pageOrThrow(id: string): DevPage {
    const p = this.page(id);
    if (!p) throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
    return p;
  }

  // ---- permissions (site → space → page restriction, as Confluence checks them) ----

  private holds(space: DevSpace, accountId: string, key: string): boolean {
    const groupIds = new Set(this.groupsOf(accountId).map((g) => g.id));
    const roleIds = new Set(
      (space.roleAssignments ?? [])
        .filter((a) => (a.principal.principalType === 'USER' ? a.principal.principalId === accountId : groupIds.has(a.principal.principalId)))
        .map((a) => a.roleId),
    );
    return space.permissions.some(
      (p) =>
        p.operation.key === key &&
        ((p.principal.type === 'user' && p.principal.id === accountId) ||
          (p.principal.type === 'group' && groupIds.has(p.principal.id)) ||
          (p.principal.type === 'role' && roleIds.has(p.principal.id))),
    );
  }

  /**
   * Whether the app's own account may see the page: Confluence applies page restrictions to apps as to
   * people, so a restricted page is hidden from the app unless the app is among its allowed users (vendors
   * of Connect apps tell admins to add the app to restrictions; issue 10, shared/CONNECT.md).
   */
  appCanSee(page: DevPage): boolean {
    return !page.restriction || page.restriction.users.includes(ACCOUNT.app);
  }

  /** The page as the app sees it, or the 404 Confluence answers for content the app cannot see. */
  pageForApp(id: string): DevPage {
    const page = this.pageOrThrow(id);
    if (!this.appCanSee(page)) throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
    return page;
  }

  isSpaceAdmin(accountId: string, spaceKey: string): boolean {
    const space = this.space(spaceKey);
    return !!space && !!this.user(accountId) && this.holds(space, accountId, 'administer');
  }

  /** Why the user cannot read the page, or null when they can. */
  readDenial(accountId: string, page: DevPage): string | null {
    const user = this.user(accountId);
    if (!user || user.closed) return 'User is not allowed to use Confluence';
    const space = this.space(page.spaceKey);
    if (!space || !(this.holds(space, accountId, 'read') || this.holds(space, accountId, 'administer'))) {
      return 'User does not have permission to the space';
    }
    if (page.status !== 'current') return 'User does not have permission to the content';
    const r = page.restriction;
    if (r) {
      const groups = this.groupsOf(accountId).map((g) => g.name);
      if (!r.users.includes(accountId) && !r.groups.some((g) => groups.includes(g))) {
        return 'User does not have permission to the content';
      }
    }
    return null;
  }

  /**
   * Why the user cannot edit (or trash) the page, or null when they can: Confluence asks for the space's
   * "create" (add pages) permission, or administration, on top of reading it.
   */
  editDenial(accountId: string, page: DevPage): string | null {
    const read = this.readDenial(accountId, page.status === 'trashed' ? { ...page, status: 'current' } : page);
    if (read) return read;
    const space = this.space(page.spaceKey)!;
    return this.holds(space, accountId, 'create') || this.holds(space, accountId, 'administer') ? null : 'User does not have permission to edit the content';
  }

  canRead(accountId: string, page: DevPage): boolean {
    return this.readDenial(accountId, page) === null;
  }

  /** Restricts reading to these users (null lifts the restriction). */
  setRestriction(pageId: string, accountIds: string[] | null, groups: string[] = []): void {
    this.pageOrThrow(pageId).restriction = accountIds === null ? null : { users: [...accountIds], groups: [...groups] };
    this.save();
  }

  // ---- content ----

  current(page: DevPage): PageVersion {
    return page.versions[page.versions.length - 1];
  }

  version(page: DevPage, n: number): PageVersion | undefined {
    return page.versions.find((v) => v.number === n);
  }

  /** A new version authored by `as`; unchanged fields are copied from the current version. */
  editPage(pageId: string, change: { body?: string; title?: string; as: string; message?: string }): PageVersion {
    const page = this.pageOrThrow(pageId);
    if (page.status !== 'current') throw new DevhostError(409, `page ${pageId} is ${page.status}`);
    if (!this.user(change.as) && change.as !== ACCOUNT.app) throw new DevhostError(400, `unknown user ${change.as}`);
    const cur = this.current(page);
    const next: PageVersion = {
      number: cur.number + 1,
      title: change.title?.trim() || cur.title,
      body: change.body ?? cur.body,
      authorId: change.as,
      createdAt: this.clock.now().toISOString(),
      message: change.message ?? '',
    };
    page.versions.push(next);
    this.save();
    return next;
  }

  /**
   * A new page at the top of a space, written by `authorId` (the app, through the REST API). Confluence
   * refuses a second page of the same title in a space (400 there too).
   */
  createPage(spaceKey: string, title: string, body: string, authorId: string): DevPage {
    if (!this.space(spaceKey)) throw new DevhostError(404, `no space ${spaceKey}`);
    const clash = this.state.pages.some((p) => p.spaceKey === spaceKey && p.status === 'current' && this.current(p).title === title);
    if (clash) throw new DevhostError(400, `A page with this title already exists: A page already exists with the same TITLE in this space`);
    const page: DevPage = {
      id: String(this.state.nextId++),
      type: 'page',
      spaceKey,
      status: 'current',
      versions: [{ number: 1, title, body, authorId, createdAt: this.clock.now().toISOString(), message: '' }],
      restriction: null,
    };
    this.state.pages.push(page);
    this.save();
    return page;
  }

  /** Moves the page to another space (its id, versions and restrictions stay, as in Confluence). */
  movePage(pageId: string, spaceKey: string): DevPage {
    const page = this.pageOrThrow(pageId);
    if (!this.space(spaceKey)) throw new DevhostError(404, `no space ${spaceKey}`);
    page.spaceKey = spaceKey;
    this.save();
    return page;
  }

  setStatus(pageId: string, status: PageStatus): DevPage {
    const page = this.state.pages.find((p) => p.id === pageId);
    if (!page || page.status === 'removed') throw new DevhostError(404, `No content found with id: ContentId{id=${pageId}}`);
    page.status = status;
    this.save();
    return page;
  }

  appProperty(clientKey: string, key: string): unknown {
    return this.state.appProperties?.[clientKey]?.[key];
  }

  /** Sets an app property; true when it was created (Confluence answers 201 then, 200 on an update). */
  setAppProperty(clientKey: string, key: string, value: unknown): boolean {
    const all = (this.state.appProperties ??= {});
    const mine = (all[clientKey] ??= {});
    const created = !(key in mine);
    mine[key] = value;
    this.save();
    return created;
  }

  addComment(pageId: string, authorId: string, body: string): DevComment {
    this.pageOrThrow(pageId);
    const comment: DevComment = { id: String(this.state.nextId++), pageId, authorId, body, createdAt: this.clock.now().toISOString() };
    this.state.comments.push(comment);
    this.save();
    return comment;
  }

  comments(pageId: string): DevComment[] {
    return this.state.comments.filter((c) => c.pageId === pageId);
  }
}
