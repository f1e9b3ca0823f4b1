import type { Decision, Workflow } from '../approvals/approvals-types';
import type { Delegation } from '../approvals/delegation';
import { DEFAULT_POLICY, SpacePolicy } from '../approvals/space-policy';
import { normaliseSettings } from '../spaces/spaces-schemas';
import type { RenderedViews } from './rendered-views';
import type { TenantChangeEvents } from './tenant-change-listener';
import type { StoredRenderRows } from './view-cache-store';

/** An installation as JWT verification needs it (the loader may hand over more: ACE's whole clientInfo). */
export interface TenantKeys {
  clientKey: string;
  sharedSecret: string;
  baseUrl: string;
}

/** What a macro render reads: the space's policy, the macro's workflow (null before its first render) and its decisions. */
export interface RenderSnapshot {
  policy: SpacePolicy;
  workflow: Workflow | null;
  decisions: readonly Decision[];
  /** The tenant's delegations nobody ended (the render picks the viewer's active ones); absent: ask the lookup. */
  delegations?: readonly Delegation[];
  /** Every workflow on the page: a staged macro shows its sequence. */
  pageWorkflows: readonly Workflow[];
}

export interface ViewCacheLoaders {
  /** The installed tenant's keys, or null (unknown or uninstalled). */
  tenant(clientKey: string): Promise<TenantKeys | null>;
  renderRows(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<StoredRenderRows>;
  /** The space's settings as stored, or null (the space runs on the defaults). */
  spaceSettings(clientKey: string, spaceKey: string): Promise<unknown | null>;
  /** The tenant's delegations nobody ended. */
  openDelegations(clientKey: string): Promise<Delegation[]>;
}

const MAX_TENANTS = 10_000;
const MAX_VIEWS = 50_000;
const MAX_POLICIES = 50_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Date) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * Per-tenant cache of what a macro render and a decision read, so that a render when nothing changed costs no
 * SQL, and a decision no lookup of the installation's secret or the space's policy. Correctness rests on
 * invalidation, not on time: every committed write to those rows notifies (database triggers, every instance
 * hears it through `TenantChangeListener`). Two kinds, two channels: `changed(clientKey)` (any write a render
 * reads: workflows, decisions, …) drops the tenant's render snapshots; `configChanged(clientKey)` (the
 * installation, space settings or delegations) drops its secret, space policies and delegations as well. A
 * decision therefore empties the render snapshots of its tenant but not its secret, policies or delegations. A load that overlapped a change of its
 * kind is returned but not kept (the tenant's epoch moved). While the listener is not listening the cache
 * holds nothing and every call goes to the database.
 *
 * Permission answers are not in here: they stay per request (CachedConfluenceClient, ≤ 60 s per user and page).
 */
export class ViewCache implements TenantChangeEvents {
  private enabled = false;
  private generation = 0;
  /** Per tenant: how often its rows (views) and its installation or settings (config) changed. */
  private readonly viewEpochs = new Map<string, number>();
  private readonly configEpochs = new Map<string, number>();
  private readonly tenants = new Map<string, TenantKeys>();
  /** clientKey → (space, page, macro) → snapshot. */
  private readonly views = new Map<string, Map<string, RenderSnapshot>>();
  private viewCount = 0;
  /** clientKey → spaceKey → policy. */
  private readonly policies = new Map<string, Map<string, SpacePolicy>>();
  private policyCount = 0;
  /** clientKey → its delegations nobody ended (what a view offers to decide on someone's behalf). */
  private readonly delegationLists = new Map<string, readonly Delegation[]>();
  /** Loads that reached the database (tests and the bench read it). */
  readonly misses = { tenant: 0, render: 0, policy: 0, delegations: 0 };

  constructor(private readonly loaders: ViewCacheLoaders) {}

  get isServing(): boolean {
    return this.enabled;
  }

  changed(clientKey: string): void {
    if (!clientKey) return this.clearAll();
    this.viewEpochs.set(clientKey, (this.viewEpochs.get(clientKey) ?? 0) + 1);
    const views = this.views.get(clientKey);
    if (views) {
      this.viewCount -= views.size;
      this.views.delete(clientKey);
    }
  }

  configChanged(clientKey: string): void {
    if (!clientKey) return this.clearAll();
    this.configEpochs.set(clientKey, (this.configEpochs.get(clientKey) ?? 0) + 1);
    this.tenants.delete(clientKey);
    this.delegationLists.delete(clientKey);
    const policies = this.policies.get(clientKey);
    if (policies) {
      this.policyCount -= policies.size;
      this.policies.delete(clientKey);
    }
    // A snapshot holds the space's policy too (space_settings announces both kinds; this does not rely on it).
    this.changed(clientKey);
  }

  reset(listening: boolean): void {
    this.enabled = listening;
    this.clearAll();
  }

  private clearAll(): void {
    this.generation++;
    this.tenants.clear();
    this.delegationLists.clear();
    this.views.clear();
    this.viewCount = 0;
    this.policies.clear();
    this.policyCount = 0;
  }

  /** A token that changes when anything the tenant's entries of that kind came from may have changed. */
  private stamp(kind: 'views' | 'config', clientKey: string): string {
    const config = this.configEpochs.get(clientKey) ?? 0;
    return kind === 'config' ? `${this.generation}:${config}` : `${this.generation}:${config}:${this.viewEpochs.get(clientKey) ?? 0}`;
  }

  async tenant(clientKey: string): Promise<TenantKeys | null> {
    const hit = this.enabled ? this.tenants.get(clientKey) : undefined;
    if (hit) return hit;
    const before = this.stamp('config', clientKey);
    this.misses.tenant++;
    const loaded = await this.loaders.tenant(clientKey);
    // Unknown issuers are not remembered: anyone can name one.
    if (loaded && this.enabled && this.stamp('config', clientKey) === before) {
      if (this.tenants.size >= MAX_TENANTS) this.tenants.delete(this.tenants.keys().next().value as string);
      this.tenants.set(clientKey, deepFreeze({ ...loaded }));
    }
    return loaded;
  }

  /** The space's policy (normalised settings, or the defaults), as `SpacePolicyProvider.policyFor` outside a transaction. */
  async policy(clientKey: string, spaceKey: string): Promise<SpacePolicy> {
    const hit = this.enabled ? this.policies.get(clientKey)?.get(spaceKey) : undefined;
    if (hit) return hit;
    const before = this.stamp('config', clientKey);
    this.misses.policy++;
    const stored = await this.loaders.spaceSettings(clientKey, spaceKey);
    const policy = stored ? deepFreeze(normaliseSettings(stored)) : DEFAULT_POLICY;
    if (this.enabled && this.stamp('config', clientKey) === before) {
      if (this.policyCount >= MAX_POLICIES) {
        this.policies.clear();
        this.policyCount = 0;
      }
      let spaces = this.policies.get(clientKey);
      if (!spaces) this.policies.set(clientKey, (spaces = new Map()));
      if (!spaces.has(spaceKey)) this.policyCount++;
      spaces.set(spaceKey, policy);
    }
    return policy;
  }

  /**
   * The tenant's delegations nobody ended, for what a view shows (whom its viewer may decide for). Not for the
   * decision on someone's behalf itself: that reads the delegation in the database (ApprovalsViews.actingFor).
   */
  async openDelegations(clientKey: string): Promise<readonly Delegation[]> {
    const hit = this.enabled ? this.delegationLists.get(clientKey) : undefined;
    if (hit) return hit;
    const before = this.stamp('config', clientKey);
    this.misses.delegations++;
    const loaded = deepFreeze(await this.loaders.openDelegations(clientKey));
    if (this.enabled && this.stamp('config', clientKey) === before) {
      if (this.delegationLists.size >= MAX_TENANTS) this.delegationLists.delete(this.delegationLists.keys().next().value as string);
      this.delegationLists.set(clientKey, loaded);
    }
    return loaded;
  }

  async renderSnapshot(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<RenderSnapshot> {
    const key = JSON.stringify([spaceKey, pageId, macroId]);
    const hit = this.enabled ? this.views.get(clientKey)?.get(key) : undefined;
    if (hit) return hit;
    const before = this.stamp('views', clientKey);
    this.misses.render++;
    const rows = await this.loaders.renderRows(clientKey, spaceKey, pageId, macroId);
    const snapshot: RenderSnapshot = deepFreeze({
      policy: rows.spaceSettings ? normaliseSettings(rows.spaceSettings) : DEFAULT_POLICY,
      workflow: rows.workflow,
      decisions: rows.decisions,
      delegations: rows.delegations,
      pageWorkflows: rows.pageWorkflows,
    });
    if (this.enabled && this.stamp('views', clientKey) === before) {
      if (this.viewCount >= MAX_VIEWS) {
        this.views.clear();
        this.viewCount = 0;
      }
      let views = this.views.get(clientKey);
      if (!views) this.views.set(clientKey, (views = new Map()));
      if (!views.has(key)) this.viewCount++;
      views.set(key, snapshot);
    }
    return snapshot;
  }
}

/** The cache with its listener, as the app composes them. */
export interface ViewCacheFeature {
  cache: ViewCache;
  /** The HTML of renders that changed nothing, on the cache's snapshots (rendered-views.ts). */
  rendered: RenderedViews;
  listener: { isListening: boolean; drops: number; sync(timeoutMs?: number): Promise<void>; backendPid(): Promise<number | null> };
  stop(): Promise<void>;
}
