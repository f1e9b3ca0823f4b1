/** The devhost's surface for tests and the pages router: see devhost.ts for what each member does. */
import type express from 'express';
import type { JwtContext } from './devhost-jwt';
import type { StoredMacro } from './devhost-macros';
import type { RestCallRecord } from './devhost-rest';
import type { ReportAccounts } from './devhost-report-accounts';
import type { PAGE } from './devhost-seed';
import type { DevhostStore } from './devhost-state';
import type { DevComment, DevUser, PageVersion, ReadRestriction } from './devhost-types';
import type { PageWebhookEvent, WebhookDelivery, WebhookResult } from './devhost-webhooks';

export interface TenantInfo {
  clientKey: string;
  sharedSecret: string;
  baseUrl: string;
  installed: boolean;
}

export interface SignOptions {
  /** Sign for this installation (default: the primary tenant). */
  clientKey?: string;
  ttlSeconds?: number;
}

export interface PageSnapshot {
  id: string;
  spaceKey: string;
  spaceId: string;
  status: string;
  title: string;
  version: number;
  body: string;
  authorId: string;
  createdAt: string;
  versions: PageVersion[];
  macros: StoredMacro[];
  restriction: ReadRestriction | null;
}

export interface ContextSpec {
  pageId?: string;
  version?: number;
  spaceKey?: string;
  macroId?: string;
}

export type UserRole = 'siteAdmin' | 'spaceAdmin' | 'alice' | 'bob' | 'secMember' | 'nora' | 'author';
export type PageName = keyof typeof PAGE;

export interface Devhost {
  /** The browser pages, the TSA and the rest of /devhost, behind the app's own middleware (CSP, logging). */
  router: express.Router;
  /**
   * Confluence's REST API (/devhost/wiki/… and /devhost/t/<clientKey>/wiki/…, under /rest/api, /api/v2 and
   * /rest/atlassian-connect/1), mounted before the app's middleware: Confluence's answers are not the app's
   * requests (no app logging, metrics or route matching for them), and the bench measures the app, not them.
   */
  restRouter: express.Router;
  hostScriptUrl: string;
  hosts(hostBaseUrl: string): boolean;
  install(): Promise<void>;
  uninstall(): Promise<void>;
  readonly clientKey: string;
  baseUrl: string;

  installTenant(opts?: { clientKey?: string }): Promise<TenantInfo>;
  uninstallTenant(clientKey: string): Promise<void>;
  tenant(clientKey?: string): TenantInfo;

  users: Record<UserRole, DevUser>;
  spaces: Record<'ENG' | 'SEC', { id: string; key: string; name: string }>;
  pages: Record<PageName, { id: string; spaceKey: string; macroIds: string[] }>;
  page(pageId: string): PageSnapshot;

  macroUrl(accountId: string, pageId: string, macroId?: string, opts?: SignOptions & { version?: number }): string;
  pageJwt(accountId: string, pageId: string, opts?: SignOptions & { macroId?: string; version?: number }): string;
  editorUrl(accountId: string, pageId: string, macroId?: string, opts?: SignOptions): string;
  spaceToolsUrl(accountId: string, spaceKey: string, opts?: SignOptions): string;
  myApprovalsUrl(accountId: string, opts?: SignOptions): string;
  contextJwt(accountId: string, context?: ContextSpec, opts?: SignOptions): string;
  signRequest(method: string, url: string, opts?: SignOptions & { accountId?: string; context?: JwtContext }): string;
  signedUrl(accountId: string, url: string, opts?: SignOptions): string;
  addonJwt(method: string, pathWithQuery: string, opts?: { clientKey?: string; secret?: string; ttlSeconds?: number }): string;

  editPage(pageId: string, change: { body?: string; title?: string; as: string; clientKey?: string }): Promise<{ version: number; webhook: WebhookResult | null }>;
  saveMacro(pageId: string, macroId: string, params: Record<string, string>, as: string): Promise<{ version: number; webhook: WebhookResult | null }>;
  trashPage(pageId: string, opts?: { as?: string; clientKey?: string }): Promise<WebhookResult | null>;
  restorePage(pageId: string, opts?: { as?: string; clientKey?: string }): Promise<WebhookResult | null>;
  removePage(pageId: string, opts?: { as?: string; clientKey?: string }): Promise<WebhookResult | null>;
  /** Moves a page to another space and sends page_moved. */
  movePage(pageId: string, spaceKey: string, opts?: { as?: string; clientKey?: string }): Promise<WebhookResult | null>;
  webhook(event: PageWebhookEvent, pageId: string, opts?: { as?: string; clientKey?: string }): WebhookDelivery;
  sendWebhook(delivery: WebhookDelivery): Promise<WebhookResult>;
  webhooksSent: WebhookResult[];
  restCalls: RestCallRecord[];

  /**
   * The page as an export (PDF, Word) shows it: its text, and for each Approvals macro the static
   * content Confluence fetches from the macro's `renderModes` URL (signed for the exporting user).
   */
  exportPage(pageId: string, as: string, opts?: SignOptions): Promise<{ text: string[]; macros: Array<{ macroId: string; status: number; html: string }> }>;
  /** Makes Confluence answer 410 Gone on every REST path starting with one of these (as Atlassian removes endpoints). */
  removeEndpoints(prefixes: string[]): void;
  /**
   * How long the REST API takes before it looks at a call (0 by default): a real site answers in tens of
   * milliseconds, so calls the app makes meanwhile overlap, as they do in production.
   */
  setRestLatency(ms: number): void;
  /** The stand-in RFC 3161 timestamp authority at /devhost/tsa. */
  tsa: { certificatePem: string };
  comments(pageId: string): DevComment[];
  setRestriction(pageId: string, accountIds: string[] | null, groups?: string[]): void;
  addToGroup(accountId: string, group: string): void;
  removeFromGroup(accountId: string, group: string): void;
  reportAccounts: ReportAccounts;
  store: DevhostStore;
}

export interface Descriptor {
  key: string;
  modules?: {
    dynamicContentMacros?: Array<{ key: string; url: string; editor?: { url: string }; renderModes?: Record<string, { url: string }> }>;
    spaceToolsTabs?: Array<{ url: string }>;
    generalPages?: Array<{ url: string }>;
    webhooks?: Array<{ event: string; url: string }>;
  };
}
