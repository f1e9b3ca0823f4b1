import type { Principal } from '../confluence/connect-auth';
import { DEFAULT_POLICY, SpacePolicy, SpacePolicyProvider } from '../approvals/space-policy';
import { NotAllowedError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { SpaceAdminCheck } from './space-admin';
import type { SpaceSettingsStores } from './space-settings-ports';
import { normaliseSettings } from './spaces-schemas';

export interface SpaceSettingsView {
  spaceKey: string;
  settings: SpacePolicy;
  /** False while the space runs on the built-in defaults. */
  saved: boolean;
  updatedAt: Date | null;
  updatedBy: string | null;
  /** Settings this user may not change (the screen shows them locked). */
  locked: SiteAdminSetting[];
}

/**
 * Settings that restrict what space admins may do: only site admins change them, or a space admin
 * could lift a restriction a site admin put on them.
 */
const SITE_ADMIN_SETTINGS = ['exportRole'] as const;
type SiteAdminSetting = (typeof SITE_ADMIN_SETTINGS)[number];

/**
 * A space's defaults and policies. Also the SpacePolicyProvider of the approvals service: macros
 * inherit the defaults for parameters they leave empty, and the policies are a ceiling no macro
 * parameter can lift (there is no macro parameter for self-approval or reset-on-edit at all).
 */
export class SpaceSettingsService implements SpacePolicyProvider {
  constructor(
    private readonly deps: {
      stores: SpaceSettingsStores;
      admins: SpaceAdminCheck;
      logger: Logger;
      /** After a change committed: caches of this instance forget the tenant's policies (the NOTIFY tells the others). */
      onChanged?: (clientKey: string, spaceKey: string) => void;
    },
  ) {}

  async policyFor(clientKey: string, spaceKey: string): Promise<SpacePolicy> {
    const found = await this.deps.stores.settings.find(clientKey, spaceKey);
    return found ? normaliseSettings(found.settings) : DEFAULT_POLICY;
  }

  /** Only space admins (from Confluence's space permissions, at most 60 s old) see or change settings. */
  async assertSpaceAdmin(p: Principal, spaceKey: string): Promise<void> {
    if (!(await this.deps.admins.isSpaceAdmin(p.clientKey, spaceKey, p.accountId))) {
      throw new NotAllowedError(`Only admins of space ${spaceKey} can see and change its Attest settings.`);
    }
  }

  async get(p: Principal, spaceKey: string): Promise<SpaceSettingsView> {
    await this.assertSpaceAdmin(p, spaceKey);
    const found = await this.deps.stores.settings.find(p.clientKey, spaceKey);
    return {
      spaceKey,
      settings: found ? normaliseSettings(found.settings) : DEFAULT_POLICY,
      saved: !!found?.updatedBy,
      updatedAt: found?.updatedBy ? found.updatedAt : null,
      updatedBy: found?.updatedBy ?? null,
      locked: await this.lockedFor(p),
    };
  }

  private async lockedFor(p: Principal): Promise<SiteAdminSetting[]> {
    return (await this.deps.admins.isSiteAdmin(p.clientKey, p.accountId)) ? [] : [...SITE_ADMIN_SETTINGS];
  }

  /** Replaces the settings; a real change is one `settings.changed` audit event in the same transaction. */
  async update(p: Principal, spaceKey: string, next: SpacePolicy): Promise<SpaceSettingsView & { changed: boolean }> {
    await this.assertSpaceAdmin(p, spaceKey);
    // Asked before the transaction: no connection is held while Confluence answers.
    const locked = await this.lockedFor(p);
    const result = await this.deps.stores.transaction(async (tx) => {
      const row = await tx.settings.lock(p.clientKey, spaceKey, DEFAULT_POLICY);
      const before = normaliseSettings(row.settings);
      const refused = locked.filter((k) => before[k] !== next[k]);
      if (refused.length) {
        throw new NotAllowedError(`Only site admins can change ${refused.join(', ')}: it restricts what space admins may do.`);
      }
      if (sameSettings(before, next)) return { stored: row, changed: false };
      // People become refs before the first append of the transaction (audit lock order).
      const [beforeRefs, afterRefs] = [
        await tx.audit.refs(p.clientKey, before.defaults.approvers),
        await tx.audit.refs(p.clientKey, next.defaults.approvers),
      ];
      const stored = await tx.settings.update(p.clientKey, spaceKey, next, p.accountId);
      await tx.audit.append(p.clientKey, {
        action: 'settings.changed',
        actor: { type: 'user', accountId: p.accountId },
        spaceKey,
        data: { before: auditSettings(before, beforeRefs), after: auditSettings(next, afterRefs), changed: changedFields(before, next) },
      });
      return { stored, changed: true };
    });
    if (result.changed) {
      this.deps.onChanged?.(p.clientKey, spaceKey);
      this.deps.logger.info({ clientKey: p.clientKey, spaceKey }, 'space settings changed');
    }
    const settings = normaliseSettings(result.stored.settings);
    return {
      spaceKey,
      settings,
      saved: !!result.stored.updatedBy,
      updatedAt: result.stored.updatedBy ? result.stored.updatedAt : null,
      updatedBy: result.stored.updatedBy,
      locked,
      changed: result.changed,
    };
  }
}

/** The settings as the audit chain records them: approvers as refs, never accountIds. */
function auditSettings(s: SpacePolicy, approverRefs: string[]) {
  return {
    allowSelfApproval: s.allowSelfApproval,
    allowDelegation: s.allowDelegation,
    resetOnEdit: s.resetOnEdit,
    reminderCadenceDays: s.reminderCadenceDays,
    exportRole: s.exportRole,
    defaults: { ...s.defaults, approvers: approverRefs },
  };
}

function flat(s: SpacePolicy): Record<string, string> {
  const { defaults, ...top } = s;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(top)) out[k] = JSON.stringify(v);
  for (const [k, v] of Object.entries(defaults)) out[`defaults.${k}`] = JSON.stringify(v);
  return out;
}

function changedFields(a: SpacePolicy, b: SpacePolicy): string[] {
  const fa = flat(a);
  const fb = flat(b);
  return Object.keys(fb).filter((k) => fa[k] !== fb[k]);
}

function sameSettings(a: SpacePolicy, b: SpacePolicy): boolean {
  return changedFields(a, b).length === 0;
}
