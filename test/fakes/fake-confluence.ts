import type { ConfluenceClient, ConfluencePage, ConfluencePageHead, ContentRef, ContentType, ReadAccess } from '../../src/confluence/confluence-client';
import { NotFoundError } from '../../src/lib/errors';

/**
 * Confluence in memory for service unit tests: pages by id (each version kept), who may read them, people's
 * groups and names, and the comments posted. Everyone reads every page unless `denied` says otherwise.
 */
export class FakeConfluence implements ConfluenceClient {
  readonly versions = new Map<string, ConfluencePage[]>();
  readonly denied = new Set<string>();
  readonly groups = new Map<string, string[]>();
  readonly names = new Map<string, string>();
  readonly comments: Array<{ clientKey: string; content: ContentRef; body: string }> = [];
  /** Pages whose comments fail as Confluence would for a page hidden from the app. */
  readonly hidden = new Set<string>();

  /** Adds a version of a page (the newest is the current one). */
  page(p: Partial<ConfluencePage> & Pick<ConfluencePage, 'id' | 'version'>): ConfluencePage {
    const page: ConfluencePage = { type: 'page', title: 'Runbook', spaceId: '1', spaceKey: 'ENG', versionAuthorId: 'acc-author', versionCreatedAt: null, body: '<p>v</p>', ...p };
    this.versions.set(p.id, [...(this.versions.get(p.id) ?? []).filter((v) => v.version !== p.version), page].sort((a, b) => a.version - b.version));
    return page;
  }

  /** The content type each read asked for, in order. */
  readonly readsAs: ContentType[] = [];

  /**
   * A page's endpoint does not answer for a blog post, nor the other way round, as the devhost models v2 (from
   * users' reports, not Atlassian's reference: docs/confluence-api.md; the service ignores a page read made for a
   * blog post).
   */
  async getPage(_ck: string, pageId: string, opts: { version?: number; type?: ContentType } = {}): Promise<ConfluencePage> {
    this.readsAs.push(opts.type ?? 'page');
    const all = (this.versions.get(pageId) ?? []).filter((v) => v.type === (opts.type ?? 'page'));
    const found = opts.version === undefined ? all[all.length - 1] : all.find((v) => v.version === opts.version);
    if (!found) throw new NotFoundError(`no page ${pageId}`);
    return { ...found };
  }

  async getPageHead(ck: string, pageId: string, opts: { type?: ContentType } = {}): Promise<ConfluencePageHead> {
    const { body: _body, ...head } = await this.getPage(ck, pageId, opts);
    return head;
  }

  async readAccess(_ck: string, pageId: string, accountId: string): Promise<ReadAccess> {
    return this.denied.has(`${pageId}/${accountId}`) ? 'denied' : 'granted';
  }

  async groupsOf(_ck: string, accountId: string): Promise<string[]> {
    return this.groups.get(accountId) ?? [];
  }

  async groupMemberships(_ck: string, accountId: string) {
    return (this.groups.get(accountId) ?? []).map((name) => ({ name, id: `id-${name}` }));
  }

  async getUser(_ck: string, accountId: string) {
    const name = this.names.get(accountId);
    return name ? ({ accountId, displayName: name } as never) : null;
  }

  async createComment(clientKey: string, content: ContentRef, body: string): Promise<{ id: string }> {
    if (this.hidden.has(content.id)) throw new NotFoundError('the app cannot see this page');
    this.comments.push({ clientKey, content, body });
    return { id: `comment-${this.comments.length}` };
  }

  async isSiteAdmin(): Promise<boolean> {
    return false;
  }

  async spaceAdmins() {
    return { spaceId: '1', users: [], groups: [] };
  }

  async searchUsers() {
    return [];
  }

  async searchGroups() {
    return [];
  }

  async getAppProperty(): Promise<unknown> {
    return null;
  }

  async putAppProperty(): Promise<void> {}

  async createPage(): Promise<never> {
    throw new Error('not in the fake');
  }

  async updatePage(): Promise<never> {
    throw new Error('not in the fake');
  }
}
