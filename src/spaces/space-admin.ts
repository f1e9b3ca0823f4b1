import type { ConfluenceClient } from '../confluence/confluence-client';
import { MAX_PERMISSION_CACHE_MS, TtlCache } from '../confluence/cached-confluence-client';
import type { Clock } from '../lib/clock';

/**
 * Is this user an admin of this space? From Confluence's space permission assignments (`administer`),
 * directly or through a group.
 *
 * Confluence names group principals of space permissions by group **id**, while `groupsOf` gives the
 * user's group **names**; the shared `isSpaceAdmin` helper compares the two and so misses group-based
 * admins. Until ConfluenceClient returns group ids, the ids of the user's groups are resolved through
 * the group picker (exact name match). Answers are cached per tenant, space and user for ≤ 60 s.
 */
export class SpaceAdminCheck {
  private readonly answers: TtlCache<boolean>;
  private readonly groupIds: TtlCache<string | null>;

  constructor(
    private readonly confluence: ConfluenceClient,
    clock: Clock,
    ttlMs = MAX_PERMISSION_CACHE_MS,
  ) {
    this.answers = new TtlCache(clock, Math.min(ttlMs, MAX_PERMISSION_CACHE_MS));
    this.groupIds = new TtlCache(clock, Math.min(ttlMs, MAX_PERMISSION_CACHE_MS));
  }

  isSpaceAdmin(clientKey: string, spaceKey: string, accountId: string): Promise<boolean> {
    if (!accountId) return Promise.resolve(false);
    return this.answers.get(JSON.stringify([clientKey, spaceKey, accountId]), () => this.check(clientKey, spaceKey, accountId));
  }

  private async check(clientKey: string, spaceKey: string, accountId: string): Promise<boolean> {
    const admins = await this.confluence.spaceAdmins(clientKey, spaceKey);
    if (admins.users.includes(accountId)) return true;
    if (!admins.groups.length) return false;
    const names = await this.confluence.groupsOf(clientKey, accountId);
    if (names.some((g) => admins.groups.includes(g))) return true;
    const ids = await Promise.all(names.map((n) => this.groupIdOf(clientKey, n)));
    return ids.some((id) => id !== null && admins.groups.includes(id));
  }

  private groupIdOf(clientKey: string, name: string): Promise<string | null> {
    return this.groupIds.get(JSON.stringify([clientKey, name]), async () => {
      const found = await this.confluence.searchGroups(clientKey, name);
      return found.find((g) => g.name === name)?.id ?? null;
    });
  }
}
