import type { Decision, Workflow } from '../approvals/approvals-types';
import { DEFAULT_POLICY, SpacePolicy } from '../approvals/space-policy';
import { normaliseSettings } from '../spaces/spaces-schemas';
import type { TenantChangeEvents } from './tenant-change-listener';
import type { StoredRenderRows } from './view-cache-store';

/** An installation as JWT verification needs it. */
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
  /** Every workflow on the page: a staged macro shows its sequence. */
  pageWorkflows: readonly Workflow[];
}

export interface ViewCacheLoaders {
  /** The installed tenant's keys, or null (unknown or uninstalled). */
  tenant(clientKey: string): Promise<TenantKeys | null>;
  renderRows(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<StoredRenderRows>;
}

const MAX_TENANTS = 10_000;
const MAX_VIEWS = 50_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Date) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * Per-tenant cache of what a macro render reads, so that a render when nothing changed costs no SQL.
 * Correctness rests on invalidation, not on time: every committed write to those rows notifies (database
 * triggers, every instance hears it through `TenantChangeListener`), and `changed(clientKey)` drops the
 * tenant's entries. A load that overlapped a change is returned but not kept (the tenant's epoch moved).
 * While the listener is not listening the cache holds nothing and every call goes to the database.
 *
 * Permission answers are not in here: they stay per request (CachedConfluenceClient, ≤ 60 s per user and page).
 */
export class ViewCache implements TenantChangeEvents {
  private enabled = false;
  private generation = 0;
  private readonly epochs = new Map<string, number>();
  private readonly tenants = new Map<string, TenantKeys>();
  /** clientKey → (space, page, macro) → snapshot. */
  private readonly views = new Map<string, Map<string, RenderSnapshot>>();
  private viewCount = 0;
  /** Loads that reached the database (tests and the bench read it). */
  readonly misses = { tenant: 0, render: 0 };

  constructor(private readonly loaders: ViewCacheLoaders) {}

  get isServing(): boolean {
    return this.enabled;
  }

  changed(clientKey: string): void {
    if (!clientKey) return this.clearAll();
    this.epochs.set(clientKey, (this.epochs.get(clientKey) ?? 0) + 1);
    this.tenants.delete(clientKey);
    const views = this.views.get(clientKey);
    if (views) {
      this.viewCount -= views.size;
      this.views.delete(clientKey);
    }
  }

  reset(listening: boolean): void {
    this.enabled = listening;
    this.clearAll();
  }

  private clearAll(): void {
    this.generation++;
    this.tenants.clear();
    this.views.clear();
    this.viewCount = 0;
  }

  /** A token that changes when anything the tenant's entries came from may have changed. */
  private stamp(clientKey: string): string {
    return `${this.generation}:${this.epochs.get(clientKey) ?? 0}`;
  }

  async tenant(clientKey: string): Promise<TenantKeys | null> {
    const hit = this.enabled ? this.tenants.get(clientKey) : undefined;
    if (hit) return hit;
    const before = this.stamp(clientKey);
    this.misses.tenant++;
    const loaded = await this.loaders.tenant(clientKey);
    // Unknown issuers are not remembered: anyone can name one.
    if (loaded && this.enabled && this.stamp(clientKey) === before) {
      if (this.tenants.size >= MAX_TENANTS) this.tenants.delete(this.tenants.keys().next().value as string);
      this.tenants.set(clientKey, deepFreeze({ ...loaded }));
    }
    return loaded;
  }

  async renderSnapshot(clientKey: string, spaceKey: string, pageId: string, macroId: string): Promise<RenderSnapshot> {
    const key = JSON.stringify([spaceKey, pageId, macroId]);
    const hit = this.enabled ? this.views.get(clientKey)?.get(key) : undefined;
    if (hit) return hit;
    const before = this.stamp(clientKey);
    this.misses.render++;
    const rows = await this.loaders.renderRows(clientKey, spaceKey, pageId, macroId);
    const snapshot: RenderSnapshot = deepFreeze({
      policy: rows.spaceSettings ? normaliseSettings(rows.spaceSettings) : DEFAULT_POLICY,
      workflow: rows.workflow,
      decisions: rows.decisions,
      pageWorkflows: rows.pageWorkflows,
    });
    if (this.enabled && this.stamp(clientKey) === before) {
      if (this.viewCount >= MAX_VIEWS) this.clearAll();
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
  listener: { isListening: boolean; sync(timeoutMs?: number): Promise<void>; backendPid(): Promise<number | null> };
  stop(): Promise<void>;
}
