import { ConfluenceClient, isSpaceAdmin } from '../confluence/confluence-client';
import { MAX_PERMISSION_CACHE_MS, TtlCache } from '../confluence/cached-confluence-client';
import type { Clock } from '../lib/clock';

/**
 * Is this user an admin of this space? From Confluence's space permission assignments (`administer`),
 * directly or through a group (see `isSpaceAdmin`). Answers are cached per tenant, space and user for ≤ 60 s.
 */
export class SpaceAdminCheck {
  private readonly answers: TtlCache<boolean>;

  constructor(
    private readonly confluence: ConfluenceClient,
    clock: Clock,
    ttlMs = MAX_PERMISSION_CACHE_MS,
  ) {
    this.answers = new TtlCache(clock, Math.min(ttlMs, MAX_PERMISSION_CACHE_MS));
  }

  /** Confluence "administer" on the application (cached by the client for ≤ 60 s). */
  isSiteAdmin(clientKey: string, accountId: string): Promise<boolean> {
    if (!accountId) return Promise.resolve(false);
    return this.confluence.isSiteAdmin(clientKey, accountId);
  }

  isSpaceAdmin(clientKey: string, spaceKey: string, accountId: string): Promise<boolean> {
    if (!accountId) return Promise.resolve(false);
    return this.answers.get(JSON.stringify([clientKey, spaceKey, accountId]), () => isSpaceAdmin(this.confluence, clientKey, spaceKey, accountId));
  }
}
