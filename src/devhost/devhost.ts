/**
 * The devhost: a local stand-in for Confluence Cloud, mounted at /devhost (never in production).
 *
 * It installs the add-on with a real RS256 signed install (its RSA key is served to ACE at
 * /devhost/connect-keys/:kid), renders seeded pages whose Approvals macros are iframes signed as a
 * chosen user, answers the REST calls the add-on makes under the tenant base URL /devhost/wiki
 * (verifying the add-on's own JWTs), fires page webhooks, and serves an all.js stand-in.
 * Keys, tenants (keys.json) and pages (state.json) persist in <dataDir>/devhost/, mode 0600.
 *
 * Test helpers (other suites rely on these names):
 *   clientKey, baseUrl                       the primary tenant (stable across restarts) and its base URL (.../devhost/wiki)
 *   install() / uninstall()                  signed POST /installed (new shared secret each time) / /uninstalled
 *   installTenant({clientKey?}) → TenantInfo a second (third…) installation with its own clientKey, secret and base URL
 *                                            (`.../devhost/t/<clientKey>/wiki`; same site content), for tenant isolation tests
 *   uninstallTenant(clientKey), tenant(clientKey?) → TenantInfo {clientKey, sharedSecret, baseUrl, installed}
 *   users.{siteAdmin,spaceAdmin,alice,bob,secMember,nora,author} → DevUser {accountId, displayName, …}
 *   spaces.{ENG,SEC} → {id, key, name};  pages.{releaseChecklist,adrQueue,onCall,postmortem,accessReview,vendorRisk}
 *                                            → {id, spaceKey, macroIds}   (postmortem is restricted: Nora cannot read it;
 *                                            adrQueue's latest version is authored by Alice, one of its approvers)
 *   page(pageId) → PageSnapshot              current title/version/body/author, all versions, macros, status, restriction
 *   macroUrl(accountId, pageId, macroId?, opts?) → full signed iframe URL of the macro (as Confluence builds it)
 *   pageJwt(accountId, pageId, opts?)        → just the JWT of that URL (opts.macroId, opts.version)
 *   editorUrl / spaceToolsUrl(accountId, spaceKey) / myApprovalsUrl(accountId) → signed module URLs
 *   contextJwt(accountId, {pageId?, version?, spaceKey?, macroId?}?, opts?) → what AP.context.getToken() returns
 *   signRequest(method, url, {accountId?, context?}?) → HS256 JWT bound by qsh to any add-on URL (path or absolute)
 *   signedUrl(accountId, url, opts?)          → url + jwt (GET)
 *   addonJwt(method, pathWithQuery, {clientKey?, secret?}?) → a JWT as ACE signs calls *to* the devhost (REST tests)
 *   editPage(pageId, {body?, title?, as, clientKey?}) → {version, webhook}  new version + page_updated webhook
 *   saveMacro(pageId, macroId, params, as)   → same as the editor's AP.confluence.saveMacro
 *   trashPage / restorePage / removePage(pageId, {as?, clientKey?}) → WebhookResult | null
 *   webhook(event, pageId, {as?, clientKey?}) → WebhookDelivery (unsent);  sendWebhook(delivery) → WebhookResult (replays allowed)
 *   webhooksSent, restCalls                  records of deliveries and of REST calls received (clientKey null = JWT refused)
 *   comments(pageId), setRestriction(pageId, accountIds | null, groups?), addToGroup / removeFromGroup(accountId, group)
 *   reportAccounts                           personal-data reporting emulation (see devhost-report-accounts.ts)
 *   store                                    the underlying DevhostStore (escape hatch)
 *
 * JWT times use the wall clock (ACE checks them against it); page versions and webhooks use the injected clock.
 */
import path from 'node:path';
import express from 'express';
import type { Config } from '../config';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { createPagesRouter } from './devhost-pages';
import { createDevhostTsa } from './devhost-tsa';
import { createRestRouter, RestCallRecord } from './devhost-rest';
import { ACCOUNT, MACRO_KEY, PAGE } from './devhost-seed';
import { DevhostError, DevhostStore, newSharedSecret } from './devhost-state';
import { JwtContext, signContextJwt, signInstall, signRequestJwt, TOKEN_TTL_S } from './devhost-jwt';
import { fillTemplate, macrosIn, replaceMacroParams, segmentsOf, StoredMacro } from './devhost-macros';
import { buildPageWebhook, PageWebhookEvent, sendWebhook, WebhookDelivery, WebhookResult } from './devhost-webhooks';
import { createReportAccounts, ReportAccounts } from './devhost-report-accounts';
import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import type { DevComment, DevTenant, DevUser, PageVersion, ReadRestriction } from './devhost-types';

export type { WebhookDelivery, WebhookResult, RestCallRecord, DevUser, DevComment };

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
  router: express.Router;
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
  /** The stand-in RFC 3161 timestamp authority at /devhost/tsa. */
  tsa: { certificatePem: string };
  comments(pageId: string): DevComment[];
  setRestriction(pageId: string, accountIds: string[] | null, groups?: string[]): void;
  addToGroup(accountId: string, group: string): void;
  removeFromGroup(accountId: string, group: string): void;
  reportAccounts: ReportAccounts;
  store: DevhostStore;
}

interface Descriptor {
  key: string;
  modules?: {
    dynamicContentMacros?: Array<{ key: string; url: string; editor?: { url: string }; renderModes?: Record<string, { url: string }> }>;
    spaceToolsTabs?: Array<{ url: string }>;
    generalPages?: Array<{ url: string }>;
    webhooks?: Array<{ event: string; url: string }>;
  };
}

const ROLES: UserRole[] = ['siteAdmin', 'spaceAdmin', 'alice', 'bob', 'secMember', 'nora', 'author'];

export function createDevhost(opts: { config: Config; logger: Logger; descriptor: unknown; clock: Clock }): Devhost {
  const { config, logger, clock } = opts;
  const descriptor = opts.descriptor as Descriptor;
  const addonBaseUrl = config.localBaseUrl;
  const tenantBase = `${addonBaseUrl}/devhost/wiki`;
  const store = new DevhostStore(config.dataDir, clock, tenantBase);
  const restCalls: RestCallRecord[] = [];
  const webhooksSent: WebhookResult[] = [];
  const goneEndpoints = new Set<string>();
  const tsa = createDevhostTsa({ dir: path.join(config.dataDir, 'devhost', 'tsa'), clock });
  const macroModule = (descriptor.modules?.dynamicContentMacros ?? []).find((m) => m.key === MACRO_KEY) ?? descriptor.modules?.dynamicContentMacros?.[0];

  const tenantOf = (clientKey?: string): DevTenant => {
    const t = clientKey ? store.tenant(clientKey) : store.primary;
    if (!t) throw new DevhostError(404, `the devhost has no tenant ${clientKey}`);
    return t;
  };
  const info = (t: DevTenant): TenantInfo => ({ clientKey: t.clientKey, sharedSecret: t.sharedSecret, baseUrl: t.baseUrl, installed: t.installed });

  async function postLifecycle(tenant: DevTenant, event: 'installed' | 'uninstalled'): Promise<void> {
    const url = `${addonBaseUrl}/${event}`;
    const payload = {
      key: descriptor.key,
      clientKey: tenant.clientKey,
      sharedSecret: tenant.sharedSecret,
      serverVersion: '6452',
      pluginsVersion: '1001.0.0-SNAPSHOT',
      baseUrl: tenant.baseUrl,
      displayUrl: tenant.baseUrl,
      productType: 'confluence',
      description: 'Atlassian Confluence (devhost)',
      eventType: event,
    };
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `JWT ${signInstall(store.keys, tenant, url, addonBaseUrl)}` },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`devhost: POST /${event} answered ${res.status}: ${text.slice(0, 300)}`);
  }

  async function installTenant(t: DevTenant): Promise<DevTenant> {
    // A reinstall gets a new secret; it replaces the old one only once the add-on has accepted it.
    const next: DevTenant = { ...t, sharedSecret: newSharedSecret(), installed: true };
    await postLifecycle(next, 'installed');
    store.upsertTenant(next);
    logger.info({ clientKey: next.clientKey }, 'devhost: installed');
    return next;
  }

  async function uninstallTenant(clientKey: string): Promise<void> {
    const t = tenantOf(clientKey);
    await postLifecycle(t, 'uninstalled');
    store.upsertTenant({ ...t, installed: false });
    logger.info({ clientKey }, 'devhost: uninstalled');
  }

  function snapshot(pageId: string): PageSnapshot {
    const p = store.state.pages.find((x) => x.id === pageId);
    if (!p) throw new DevhostError(404, `no page ${pageId}`);
    const cur = store.current(p);
    return {
      id: p.id,
      spaceKey: p.spaceKey,
      spaceId: store.space(p.spaceKey)!.id,
      status: p.status,
      title: cur.title,
      version: cur.number,
      body: cur.body,
      authorId: cur.authorId,
      createdAt: cur.createdAt,
      versions: p.versions.map((v) => ({ ...v })),
      macros: macrosIn(cur.body, MACRO_KEY),
      restriction: p.restriction,
    };
  }

  const withJwt = (url: string, jwt: string) => `${url}${url.includes('?') ? '&' : '?'}jwt=${encodeURIComponent(jwt)}`;
  const absolute = (url: string) => (/^https?:/.test(url) ? url : `${addonBaseUrl}${url.startsWith('/') ? '' : '/'}${url}`);

  /** The unsigned macro iframe URL, as Confluence fills the descriptor's template (or a render mode's). */
  function macroTarget(pageId: string, macroId: string | undefined, version: number | undefined, template = macroModule?.url): string {
    if (!macroModule || !template) throw new Error('the descriptor has no dynamicContentMacros');
    const p = store.pageOrThrow(pageId);
    const v = version ? store.version(p, version) : store.current(p);
    if (!v) throw new DevhostError(404, `page ${pageId} has no version ${version}`);
    const macros = macrosIn(v.body, MACRO_KEY);
    const macro = macroId ? macros.find((m) => m.macroId === macroId) : macros[0];
    if (!macro) throw new DevhostError(404, `page ${pageId} v${v.number} has no ${MACRO_KEY} macro ${macroId ?? ''}`);
    const space = store.space(p.spaceKey)!;
    return absolute(
      fillTemplate(template, {
        ...macro.params,
        'page.id': p.id,
        'page.version': v.number,
        'page.title': v.title,
        'page.type': p.type,
        'space.key': space.key,
        'space.id': space.id,
        'macro.id': macro.macroId,
        'output.type': template === macroModule.url ? 'display' : 'pdf',
      }),
    );
  }

  function signRequest(method: string, url: string, o: SignOptions & { accountId?: string; context?: JwtContext } = {}): string {
    return signRequestJwt({ tenant: tenantOf(o.clientKey), method, url: absolute(url), addonBaseUrl, accountId: o.accountId, context: o.context, ttlSeconds: o.ttlSeconds });
  }

  function signedUrl(accountId: string, url: string, o: SignOptions = {}): string {
    const full = absolute(url);
    return withJwt(full, signRequest('GET', full, { ...o, accountId }));
  }

  function contextFor(spec: ContextSpec = {}): JwtContext {
    const confluence: NonNullable<JwtContext['confluence']> = {};
    if (spec.pageId) {
      const p = store.pageOrThrow(spec.pageId);
      confluence.content = { id: p.id, version: String(spec.version ?? store.current(p).number), type: p.type };
      const s = store.space(p.spaceKey)!;
      confluence.space = { key: s.key, id: s.id };
    }
    if (spec.spaceKey) {
      const s = store.space(spec.spaceKey);
      if (s) confluence.space = { key: s.key, id: s.id };
    }
    if (spec.macroId) confluence.macro = { id: spec.macroId };
    return Object.keys(confluence).length ? { confluence } : {};
  }

  async function deliver(event: PageWebhookEvent, pageId: string, as: string, clientKey?: string): Promise<WebhookResult | null> {
    const tenant = tenantOf(clientKey);
    if (!tenant.installed) return null;
    const d = buildWebhook(event, pageId, { as, clientKey });
    return d ? send(d) : null;
  }

  function buildWebhook(event: PageWebhookEvent, pageId: string, o: { as?: string; clientKey?: string } = {}): WebhookDelivery | null {
    const page = store.state.pages.find((p) => p.id === pageId);
    if (!page) throw new DevhostError(404, `no page ${pageId}`);
    return buildPageWebhook({
      store,
      descriptor,
      addonBaseUrl,
      tenant: tenantOf(o.clientKey),
      event,
      page,
      userAccountId: o.as ?? store.current(page).authorId,
      now: clock.now(),
    });
  }

  async function send(d: WebhookDelivery): Promise<WebhookResult> {
    const result = await sendWebhook(d, tenantOf(d.clientKey), addonBaseUrl);
    webhooksSent.push(result);
    if (webhooksSent.length > 200) webhooksSent.shift();
    logger.info({ event: d.event, clientKey: d.clientKey, status: result.status }, 'devhost: webhook sent');
    return result;
  }

  async function editPage(pageId: string, change: { body?: string; title?: string; as: string; clientKey?: string }) {
    const v = store.editPage(pageId, change);
    const webhook = await deliver('page_updated', pageId, change.as, change.clientKey);
    return { version: v.number, webhook };
  }

  const statusChange = (status: 'current' | 'trashed' | 'removed', event: PageWebhookEvent) =>
    async (pageId: string, o: { as?: string; clientKey?: string } = {}) => {
      const as = o.as ?? ACCOUNT.spaceAdmin;
      // A removed page is gone: build the webhook while its data is still there.
      const d = status === 'removed' && tenantOf(o.clientKey).installed ? buildWebhook(event, pageId, { as, clientKey: o.clientKey }) : null;
      store.setStatus(pageId, status);
      if (status === 'removed') return d ? send(d) : null;
      return deliver(event, pageId, as, o.clientKey);
    };

  const users = Object.fromEntries(ROLES.map((r) => [r, store.state.users.find((u) => u.role === r)!])) as Record<UserRole, DevUser>;
  const spaces = Object.fromEntries(store.state.spaces.map((s) => [s.key, { id: s.id, key: s.key, name: s.name }])) as Devhost['spaces'];
  const pages = Object.fromEntries(
    (Object.keys(PAGE) as PageName[]).map((name) => {
      const p = store.state.pages.find((x) => x.id === PAGE[name])!;
      return [name, { id: p.id, spaceKey: p.spaceKey, macroIds: macrosIn(store.current(p).body, MACRO_KEY).map((m) => m.macroId) }];
    }),
  ) as Devhost['pages'];

  const devhost: Devhost = {
    router: express.Router(),
    hostScriptUrl: `${addonBaseUrl}/devhost/all.js`,
    baseUrl: tenantBase,
    get clientKey() {
      return store.primary.clientKey;
    },
    hosts: (hostBaseUrl) => store.keys.tenants.some((t) => t.baseUrl === hostBaseUrl.replace(/\/$/, '')),
    install: async () => {
      await installTenant(store.primary);
    },
    uninstall: () => uninstallTenant(store.primary.clientKey),
    installTenant: async (o = {}) => {
      const clientKey = o.clientKey ?? `devhost-tenant-${store.keys.tenants.length + 1}-${Date.now().toString(36)}`;
      const existing = store.tenant(clientKey);
      const t = existing ?? { clientKey, sharedSecret: '', baseUrl: `${addonBaseUrl}/devhost/t/${encodeURIComponent(clientKey)}/wiki`, installed: false };
      return info(await installTenant(t));
    },
    uninstallTenant,
    tenant: (clientKey) => info(tenantOf(clientKey)),
    users,
    spaces,
    pages,
    page: snapshot,
    macroUrl: (accountId, pageId, macroId, o = {}) => {
      const url = macroTarget(pageId, macroId, o.version);
      return withJwt(url, signRequest('GET', url, { ...o, accountId }));
    },
    pageJwt: (accountId, pageId, o = {}) => signRequest('GET', macroTarget(pageId, o.macroId, o.version), { ...o, accountId }),
    editorUrl: (accountId, pageId, macroId, o = {}) => {
      const p = store.pageOrThrow(pageId);
      const template = macroModule?.editor?.url;
      if (!template) throw new Error('the macro has no editor');
      const params = (macroId ? macrosIn(store.current(p).body, MACRO_KEY).find((m) => m.macroId === macroId)?.params : undefined) ?? {};
      return signedUrl(accountId, fillTemplate(template, { ...params, 'page.id': p.id, 'page.version': store.current(p).number, 'space.key': p.spaceKey, 'macro.id': macroId }), o);
    },
    spaceToolsUrl: (accountId, spaceKey, o = {}) => {
      const template = descriptor.modules?.spaceToolsTabs?.[0]?.url;
      if (!template) throw new Error('the descriptor has no spaceToolsTabs');
      return signedUrl(accountId, fillTemplate(template, { 'space.key': spaceKey, 'space.id': store.space(spaceKey)?.id }), o);
    },
    myApprovalsUrl: (accountId, o = {}) => {
      const template = descriptor.modules?.generalPages?.[0]?.url;
      if (!template) throw new Error('the descriptor has no generalPages');
      return signedUrl(accountId, fillTemplate(template, {}), o);
    },
    contextJwt: (accountId, spec, o = {}) => signContextJwt({ tenant: tenantOf(o.clientKey), accountId, context: contextFor(spec), ttlSeconds: o.ttlSeconds }),
    signRequest,
    signedUrl,
    addonJwt: (method, pathWithQuery, o = {}) => {
      const tenant = tenantOf(o.clientKey);
      const iat = Math.floor(Date.now() / 1000);
      return encodeSymmetric(
        {
          iss: descriptor.key,
          aud: [tenant.clientKey],
          iat,
          exp: iat + (o.ttlSeconds ?? TOKEN_TTL_S),
          qsh: createQueryStringHash(fromMethodAndUrl(method.toUpperCase(), pathWithQuery)),
        },
        o.secret ?? tenant.sharedSecret,
        SymmetricAlgorithm.HS256,
      );
    },
    editPage,
    saveMacro: async (pageId, macroId, params, as) => {
      const cur = store.current(store.pageOrThrow(pageId));
      const body = replaceMacroParams(cur.body, macroId, params);
      if (body === null) throw new DevhostError(404, `page ${pageId} has no macro ${macroId}`);
      return editPage(pageId, { body, as });
    },
    trashPage: statusChange('trashed', 'page_trashed'),
    restorePage: statusChange('current', 'page_restored'),
    removePage: statusChange('removed', 'page_removed'),
    movePage: async (pageId, spaceKey, o = {}) => {
      store.movePage(pageId, spaceKey);
      return deliver('page_moved', pageId, o.as ?? ACCOUNT.spaceAdmin, o.clientKey);
    },
    webhook: (event, pageId, o) => {
      const d = buildWebhook(event, pageId, o);
      if (!d) throw new Error(`the descriptor has no ${event} webhook`);
      return d;
    },
    sendWebhook: send,
    webhooksSent,
    restCalls,
    exportPage: async (pageId, as, o = {}) => {
      const page = store.pageOrThrow(pageId);
      const template = macroModule?.renderModes?.pdf?.url ?? macroModule?.renderModes?.default?.url;
      const text: string[] = [];
      const macros: Array<{ macroId: string; status: number; html: string }> = [];
      for (const s of segmentsOf(store.current(page).body, MACRO_KEY)) {
        if (s.kind === 'text') {
          text.push(s.text);
          continue;
        }
        // Without a render mode an export shows nothing of a dynamic macro.
        if (!template) {
          macros.push({ macroId: s.macro.macroId, status: 0, html: '' });
          continue;
        }
        const url = macroTarget(page.id, s.macro.macroId, undefined, template);
        const res = await fetch(withJwt(url, signRequest('GET', url, { ...o, accountId: as })), { signal: AbortSignal.timeout(10_000) });
        macros.push({ macroId: s.macro.macroId, status: res.status, html: await res.text() });
      }
      return { text, macros };
    },
    removeEndpoints: (prefixes) => {
      goneEndpoints.clear();
      for (const p of prefixes) goneEndpoints.add(p);
    },
    tsa: { certificatePem: tsa.certificatePem },
    comments: (pageId) => store.comments(pageId),
    setRestriction: (pageId, accountIds, groups) => store.setRestriction(pageId, accountIds, groups),
    addToGroup: (accountId, group) => {
      store.addToGroup(accountId, group);
    },
    removeFromGroup: (accountId, group) => store.removeFromGroup(accountId, group),
    reportAccounts: createReportAccounts(store, descriptor.key),
    store,
  };

  const rest = createRestRouter({ store, addonKey: descriptor.key, logger, restCalls, goneEndpoints });
  // The primary tenant's base is /devhost/wiki; extra tenants get /devhost/t/<clientKey>/wiki.
  devhost.router.use('/wiki', rest);
  devhost.router.use('/t/:tenant/wiki', rest);
  devhost.router.use('/tsa', tsa.router);
  devhost.router.use(createPagesRouter({ devhost, store, descriptor, config, logger }));
  return devhost;
}
