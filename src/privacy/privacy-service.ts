import type { Logger } from '../lib/logger';
import { MAX_ACCOUNTS_PER_REPORT, PrivacyReportClient, RateLimitedError } from './privacy-client';
import type { PrivacyStores } from './privacy-ports';

const HOUR_MS = 3_600_000;
/** Atlassian's default reporting cycle: every 7 days. */
export const DEFAULT_CYCLE_HOURS = 168;

export interface CycleResult {
  status: 'not-due' | 'rate-limited' | 'reported';
  reported: number;
  erased: number;
}

/**
 * The personal data reporting cycle (CONNECT.md): when due, report every stored accountId in batches
 * of ≤ 90, erase the accounts Atlassian says are closed, and schedule the next cycle by Cycle-Period.
 * A 429 stops the cycle until Retry-After has passed; the next run starts the cycle again.
 */
export class PrivacyService {
  constructor(
    private readonly deps: { stores: PrivacyStores; client: PrivacyReportClient; logger: Logger },
  ) {}

  async runCycle(clientKey: string, now: Date): Promise<CycleResult> {
    const cycle = await this.deps.stores.privacy.cycle(clientKey);
    if (cycle && (cycle.nextDueAt > now || (cycle.retryAfter && cycle.retryAfter > now))) return { status: 'not-due', reported: 0, erased: 0 };
    const accounts = await this.deps.stores.privacy.storedAccounts(clientKey);
    let reported = 0;
    let erased = 0;
    let periodHours: number | null = null;
    for (let i = 0; i < accounts.length; i += MAX_ACCOUNTS_PER_REPORT) {
      const batch = accounts.slice(i, i + MAX_ACCOUNTS_PER_REPORT);
      try {
        const res = await this.deps.client.report(clientKey, batch);
        reported += batch.length;
        if (res.cyclePeriodHours !== null) periodHours = Math.min(periodHours ?? Infinity, res.cyclePeriodHours);
        for (const accountId of res.closed) if (await this.erase(clientKey, accountId)) erased++;
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        this.deps.logger.warn({ clientKey, retryAfterSeconds: err.retryAfterSeconds, reported }, 'personal data reporting rate limited');
        await this.deps.stores.privacy.saveCycle(clientKey, {
          nextDueAt: cycle?.nextDueAt ?? now,
          retryAfter: new Date(now.getTime() + err.retryAfterSeconds * 1000),
          lastReportedAt: cycle?.lastReportedAt ?? null,
          lastReported: cycle?.lastReported ?? 0,
          erasedTotal: (cycle?.erasedTotal ?? 0) + erased,
        });
        return { status: 'rate-limited', reported, erased };
      }
    }
    await this.deps.stores.privacy.saveCycle(clientKey, {
      nextDueAt: new Date(now.getTime() + (periodHours ?? DEFAULT_CYCLE_HOURS) * HOUR_MS),
      retryAfter: null,
      lastReportedAt: now,
      lastReported: reported,
      erasedTotal: (cycle?.erasedTotal ?? 0) + erased,
    });
    this.deps.logger.info({ clientKey, reported, erased }, 'personal data reported');
    return { status: 'reported', reported, erased };
  }

  /** Erases one closed account's personal data in one transaction, with an audit event naming only its ref. */
  async erase(clientKey: string, accountId: string): Promise<boolean> {
    return this.deps.stores.transaction(async (tx) => {
      const ref = await tx.personalData.refOf(clientKey, accountId);
      const touched = await tx.personalData.erase(clientKey, accountId, ref ? `erased:${ref}` : 'erased');
      if (!touched) return false;
      await tx.audit.append(clientKey, {
        action: 'subject.erased',
        actor: { type: 'system' },
        data: { ref, reason: 'the account was closed (Atlassian personal data reporting)' },
      });
      this.deps.logger.info({ clientKey, ref }, 'closed account erased');
      return true;
    });
  }
}
