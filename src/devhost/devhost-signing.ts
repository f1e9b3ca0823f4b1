/** Signed URLs and tokens as Confluence makes them: macro iframes, module pages, context JWTs, and the add-on's own calls. */
import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import type { ContextSpec, Descriptor, SignOptions } from './devhost-api';
import { JwtContext, signContextJwt, signRequestJwt, TOKEN_TTL_S } from './devhost-jwt';
import { fillTemplate, macrosIn } from './devhost-macros';
import { MACRO_KEY } from './devhost-seed';
import { DevhostError, DevhostStore } from './devhost-state';
import type { DevTenant } from './devhost-types';

type MacroModule = NonNullable<NonNullable<Descriptor['modules']>['dynamicContentMacros']>[number];

export function createSigner(opts: { store: DevhostStore; descriptor: Descriptor; addonBaseUrl: string; tenantOf(clientKey?: string): DevTenant }) {
  const { store, descriptor, addonBaseUrl, tenantOf } = opts;
  const macroModule: MacroModule | undefined =
    (descriptor.modules?.dynamicContentMacros ?? []).find((m) => m.key === MACRO_KEY) ?? descriptor.modules?.dynamicContentMacros?.[0];

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

  return {
    macroModule,
    withJwt,
    signRequest,
    signedUrl,
    macroTarget,
    macroUrl(accountId: string, pageId: string, macroId?: string, o: SignOptions & { version?: number } = {}): string {
      const url = macroTarget(pageId, macroId, o.version);
      return withJwt(url, signRequest('GET', url, { ...o, accountId }));
    },
    pageJwt: (accountId: string, pageId: string, o: SignOptions & { macroId?: string; version?: number } = {}) =>
      signRequest('GET', macroTarget(pageId, o.macroId, o.version), { ...o, accountId }),
    editorUrl(accountId: string, pageId: string, macroId?: string, o: SignOptions = {}): string {
      const p = store.pageOrThrow(pageId);
      const template = macroModule?.editor?.url;
      if (!template) throw new Error('the macro has no editor');
      const params = (macroId ? macrosIn(store.current(p).body, MACRO_KEY).find((m) => m.macroId === macroId)?.params : undefined) ?? {};
      return signedUrl(accountId, fillTemplate(template, { ...params, 'page.id': p.id, 'page.version': store.current(p).number, 'space.key': p.spaceKey, 'macro.id': macroId }), o);
    },
    spaceToolsUrl(accountId: string, spaceKey: string, o: SignOptions = {}): string {
      const template = descriptor.modules?.spaceToolsTabs?.[0]?.url;
      if (!template) throw new Error('the descriptor has no spaceToolsTabs');
      return signedUrl(accountId, fillTemplate(template, { 'space.key': spaceKey, 'space.id': store.space(spaceKey)?.id }), o);
    },
    myApprovalsUrl(accountId: string, o: SignOptions = {}): string {
      const template = descriptor.modules?.generalPages?.[0]?.url;
      if (!template) throw new Error('the descriptor has no generalPages');
      return signedUrl(accountId, fillTemplate(template, {}), o);
    },
    contextJwt: (accountId: string, spec?: ContextSpec, o: SignOptions = {}) =>
      signContextJwt({ tenant: tenantOf(o.clientKey), accountId, context: contextFor(spec), ttlSeconds: o.ttlSeconds }),
    /** A JWT as ACE signs calls *to* Confluence (for REST tests). */
    addonJwt(method: string, pathWithQuery: string, o: { clientKey?: string; secret?: string; ttlSeconds?: number } = {}): string {
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
  };
}
