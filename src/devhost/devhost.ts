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
 *   removeEndpoints(prefixes), setRestLatency(ms)  410 Gone on those paths; a REST answer that takes ms (0 by default)
 *   comments(pageId), setRestriction(pageId, accountIds | null, groups?), addToGroup / removeFromGroup(accountId, group)
 *   reportAccounts                           personal-data reporting emulation (see devhost-report-accounts.ts)
 *   store                                    the underlying DevhostStore (escape hatch)
 *
 * JWT times use the wall clock (ACE checks them against it); page versions and webhooks use the injected clock.
 *
 * One module per concern: devhost-api (the surface above, as types), devhost-tenants (install lifecycle),
 * devhost-signing (signed URLs and tokens), devhost-page-events (page changes and their webhooks), devhost-rest*
 * (the REST API: users and groups, content, spaces and app properties), devhost-pages (the browser pages),
 * devhost-state (the persisted site). This file composes them.
 */
import path from 'node:path';
import express from 'express';
import type { Config } from '../config';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Descriptor, Devhost, PageName, PageSnapshot, UserRole } from './devhost-api';
import { macrosIn, segmentsOf } from './devhost-macros';
import { createPageEvents } from './devhost-page-events';
import { createPagesRouter } from './devhost-pages';
import { createReportAccounts } from './devhost-report-accounts';
import { createRestRouter, RestCallRecord } from './devhost-rest';
import { MACRO_KEY, PAGE } from './devhost-seed';
import { createSigner } from './devhost-signing';
import { DevhostError, DevhostStore } from './devhost-state';
import { createTenantLifecycle } from './devhost-tenants';
import { createDevhostTsa } from './devhost-tsa';
import type { DevComment, DevUser } from './devhost-types';
import type { WebhookDelivery, WebhookResult } from './devhost-webhooks';

export type { WebhookDelivery, WebhookResult, RestCallRecord, DevUser, DevComment };
export type { ContextSpec, Devhost, PageName, PageSnapshot, SignOptions, TenantInfo, UserRole } from './devhost-api';

const ROLES: UserRole[] = ['siteAdmin', 'spaceAdmin', 'alice', 'bob', 'secMember', 'nora', 'author'];

export function createDevhost(opts: { config: Config; logger: Logger; descriptor: unknown; clock: Clock }): Devhost {
  const { config, logger, clock } = opts;
  const descriptor = opts.descriptor as Descriptor;
  const addonBaseUrl = config.localBaseUrl;
  const tenantBase = `${addonBaseUrl}/devhost/wiki`;
  const store = new DevhostStore(config.dataDir, clock, tenantBase);
  const restCalls: RestCallRecord[] = [];
  const restLatency = { ms: 0 };
  const goneEndpoints = new Set<string>();
  const tsa = createDevhostTsa({ dir: path.join(config.dataDir, 'devhost', 'tsa'), clock });
  const tenants = createTenantLifecycle({ store, descriptor, addonBaseUrl, logger });
  const { tenantOf, info, installTenant, uninstallTenant } = tenants;
  const signer = createSigner({ store, descriptor, addonBaseUrl, tenantOf });
  const events = createPageEvents({ store, descriptor, addonBaseUrl, logger, clock, tenantOf });

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

  /** The page as an export shows it: its text and each macro's static render-mode content. */
  async function exportPage(pageId: string, as: string, o: { clientKey?: string; ttlSeconds?: number } = {}) {
    const page = store.pageOrThrow(pageId);
    const template = signer.macroModule?.renderModes?.pdf?.url ?? signer.macroModule?.renderModes?.default?.url;
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
      const url = signer.macroTarget(page.id, s.macro.macroId, undefined, template);
      const res = await fetch(signer.withJwt(url, signer.signRequest('GET', url, { ...o, accountId: as })), { signal: AbortSignal.timeout(10_000) });
      macros.push({ macroId: s.macro.macroId, status: res.status, html: await res.text() });
    }
    return { text, macros };
  }

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
    restRouter: express.Router(),
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
    macroUrl: signer.macroUrl,
    pageJwt: signer.pageJwt,
    editorUrl: signer.editorUrl,
    spaceToolsUrl: signer.spaceToolsUrl,
    myApprovalsUrl: signer.myApprovalsUrl,
    contextJwt: signer.contextJwt,
    signRequest: signer.signRequest,
    signedUrl: signer.signedUrl,
    addonJwt: signer.addonJwt,
    editPage: events.editPage,
    saveMacro: events.saveMacro,
    trashPage: events.trashPage,
    restorePage: events.restorePage,
    removePage: events.removePage,
    movePage: events.movePage,
    webhook: (event, pageId, o) => {
      const d = events.buildWebhook(event, pageId, o);
      if (!d) throw new Error(`the descriptor has no ${event} webhook`);
      return d;
    },
    sendWebhook: events.send,
    webhooksSent: events.webhooksSent,
    restCalls,
    exportPage,
    removeEndpoints: (prefixes) => {
      goneEndpoints.clear();
      for (const p of prefixes) goneEndpoints.add(p);
    },
    setRestLatency: (ms) => {
      restLatency.ms = ms;
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

  const rest = createRestRouter({ store, addonKey: descriptor.key, logger, restCalls, goneEndpoints, latency: restLatency });
  // The primary tenant's base is /devhost/wiki; extra tenants get /devhost/t/<clientKey>/wiki. Mounted before
  // the app's body parsers: the REST API parses its own JSON (errors in Confluence's shape, devhost-rest.ts).
  devhost.restRouter.use(['/wiki', '/t/:tenant/wiki'], express.json({ limit: '1mb' }), rest);
  devhost.router.use('/tsa', tsa.router);
  devhost.router.use(createPagesRouter({ devhost, store, descriptor, config, logger }));
  return devhost;
}
