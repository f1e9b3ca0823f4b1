import type { ApprovalsService } from '../approvals/approvals-service';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import { isDatabaseUnavailable, NotFoundError, UnavailableError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { parsePageWebhook } from './page-events-schemas';
import type { PageEventsStores } from './page-events-ports';
import { contentTypeOfEvent, isMoveEvent, isUpdateEvent, PageEvent, PageEventName } from './page-events-store';

/**
 * How long a stored delivery may stay unprocessed before the retry job takes it; each failed attempt doubles the
 * age at which it is tried again (1, 2, 4 … minutes after it arrived), so the last of MAX_ATTEMPTS comes ~5.7 days
 * after it: a Confluence or database outage of hours leaves it to be applied, not given up after ten minutes.
 */
export const RETRY_AFTER_MS = 60_000;
export const MAX_ATTEMPTS = 14;

/**
 * Deliveries the inbox could not take are answered 503, but Confluence does not redeliver webhooks (only
 * Jira's are documented to retry), so the process holds them and stores them itself once the database is back:
 * at most HELD_MAX, each for at most HELD_MAX_AGE_MS, tried every HELD_RETRY_MS. A process that stops first
 * loses them, as the delivery was never acknowledged (docs/operations.md).
 */
export const HELD_MAX = 1000;
export const HELD_MAX_AGE_MS = 30 * 60_000;
export const HELD_RETRY_MS = 5_000;

interface HeldDelivery {
  clientKey: string;
  event: PageEventName;
  parsed: ReturnType<typeof parsePageWebhook>;
  heldAt: number;
  failures?: number;
}

/**
 * Page webhooks → approvals. Every delivery is stored in the inbox (deduplicated) before it is acted
 * on; handling is idempotent and safe out of order, so the retry job can run any stored event again:
 * - page_updated / blog_updated apply the version through ApprovalsService.applyPageVersion (an older or equal
 *   version changes nothing);
 * - page_moved: the workflows follow the page to the space Confluence now names for it;
 * - *_trashed / *_removed archive, *_restored restores — unless a trash/restore/remove of
 *   the same page with a later webhook timestamp was already handled (then this one is stale).
 */
export class PageEventsService {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly held = new Map<string, HeldDelivery>();
  private heldTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      stores: PageEventsStores;
      approvals: ApprovalsService;
      confluence: ConfluenceClient;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  /**
   * A webhook delivery: validates it (InputError, a 400, when it is unusable) and stores it in the inbox
   * before it resolves, so the route answers 2xx only for what is kept; a store failure is an
   * UnavailableError (503, see webhooks.ts). Processing then runs in the background.
   */
  async receive(clientKey: string, event: PageEventName, body: unknown): Promise<'stored' | 'duplicate'> {
    const parsed = parsePageWebhook(event, body);
    let stored: PageEvent | null;
    try {
      stored = await this.deps.stores.inbox.insert(clientKey, parsed, this.deps.clock.now());
    } catch (err) {
      // The database away is answered 503 with Retry-After by the error middleware; anything else that kept
      // the delivery out of the inbox is not acknowledged either.
      this.hold({ clientKey, event, parsed, heldAt: Date.now() });
      if (isDatabaseUnavailable(err)) throw err;
      this.deps.logger.error({ err, clientKey, event, pageId: parsed.pageId }, 'page event could not be stored; answered 503, held to be stored later');
      throw new UnavailableError('The event could not be stored right now. Try again later.', { cause: err });
    }
    if (!stored) {
      this.deps.logger.info({ clientKey, event, pageId: parsed.pageId, version: parsed.pageVersion }, 'page webhook: duplicate delivery ignored');
      return 'duplicate';
    }
    this.handleInBackground(stored);
    return 'stored';
  }

  private handleInBackground(stored: PageEvent): void {
    const work = this.process(stored).catch((err) => {
      this.deps.logger.error({ err, clientKey: stored.clientKey, event: stored.event, eventId: stored.id }, 'page event stored but not processed; the retry job will take it');
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private hold(d: HeldDelivery): void {
    const key = JSON.stringify([d.clientKey, d.event, d.parsed]);
    if (!this.held.has(key) && this.held.size >= HELD_MAX) {
      const [oldestKey, oldest] = this.held.entries().next().value as [string, HeldDelivery];
      this.held.delete(oldestKey);
      this.deps.logger.error({ clientKey: oldest.clientKey, event: oldest.event, pageId: oldest.parsed.pageId }, 'page event LOST: too many deliveries held while the database is away');
    }
    this.held.set(key, this.held.get(key) ?? d);
    if (!this.heldTimer) {
      this.heldTimer = setInterval(() => void this.storeHeld(), HELD_RETRY_MS);
      this.heldTimer.unref();
    }
  }

  /** How many deliveries wait to be stored (the 503s Confluence will not send again). */
  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Stores the held deliveries while the database answers (a delivery sent again meanwhile is a duplicate
   * then) and handles them as if they had just arrived. Stops at the first sign the database is still away.
   */
  async storeHeld(): Promise<{ stored: number; waiting: number }> {
    let stored = 0;
    for (const [key, d] of [...this.held]) {
      if (Date.now() - d.heldAt > HELD_MAX_AGE_MS) {
        this.held.delete(key);
        this.deps.logger.error({ clientKey: d.clientKey, event: d.event, pageId: d.parsed.pageId }, 'page event LOST: the database was away longer than a delivery is held');
        continue;
      }
      let row: PageEvent | null;
      try {
        row = await this.deps.stores.inbox.insert(d.clientKey, d.parsed, this.deps.clock.now());
      } catch (err) {
        if (isDatabaseUnavailable(err)) break;
        d.failures = (d.failures ?? 0) + 1;
        // Once, then every few minutes: it is tried every few seconds.
        if (d.failures % 60 === 1) this.deps.logger.warn({ err, clientKey: d.clientKey, event: d.event, failures: d.failures }, 'held page event still cannot be stored');
        continue;
      }
      this.held.delete(key);
      if (row) {
        stored++;
        this.deps.logger.info({ clientKey: d.clientKey, event: d.event, pageId: d.parsed.pageId }, 'held page event stored');
        this.handleInBackground(row);
      }
    }
    if (!this.held.size) this.stopHolding();
    return { stored, waiting: this.held.size };
  }

  /** Shutdown: the held deliveries go unstored (they were answered 503). */
  stopHolding(): void {
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.heldTimer = null;
  }

  /** Resolves when every delivery received so far has been handled (tests, graceful shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /** Handles one stored event; returns false when it failed (it stays unprocessed for a retry). */
  async process(ev: PageEvent): Promise<boolean> {
    const log = { clientKey: ev.clientKey, event: ev.event, pageId: ev.pageId, version: ev.pageVersion, eventId: ev.id };
    try {
      const outcome = isUpdateEvent(ev.event) ? await this.pageUpdated(ev) : isMoveEvent(ev.event) ? await this.pageMoved(ev) : await this.statusChanged(ev);
      this.deps.logger.info({ ...log, outcome }, 'page event handled');
      return true;
    } catch (err) {
      await this.deps.stores.inbox.markFailed(ev.clientKey, ev.id, (err as Error).message ?? String(err));
      if (ev.attempts + 1 >= MAX_ATTEMPTS) this.deps.logger.error({ ...log, err, attempts: ev.attempts + 1 }, 'page event failed for the last time: given up (attest_webhook_inbox_retries{state="given_up"})');
      else this.deps.logger.warn({ ...log, err }, 'page event failed; the retry job will try again');
      return false;
    }
  }

  /** The retry job: handles the tenant's events that are still unprocessed after RETRY_AFTER_MS. */
  async retryUnprocessed(clientKey: string, now: Date): Promise<{ retried: number; failed: number }> {
    const events = await this.deps.stores.inbox.unprocessed(clientKey, now, { firstAfterMs: RETRY_AFTER_MS, maxAttempts: MAX_ATTEMPTS, limit: 500 });
    let failed = 0;
    for (const ev of events) if (!(await this.process(ev))) failed++;
    return { retried: events.length, failed };
  }

  private actorOf(ev: PageEvent) {
    const accountId = typeof ev.payload.userAccountId === 'string' && ev.payload.userAccountId ? ev.payload.userAccountId : null;
    return { type: 'confluence' as const, accountId };
  }

  private async pageUpdated(ev: PageEvent): Promise<string> {
    const version = ev.pageVersion!;
    const workflows = await this.deps.approvals.workflowsOfPage(ev.clientKey, ev.pageId);
    let outcome: string;
    if (!workflows.some((w) => w.state !== 'archived' && w.boundVersion < version)) {
      outcome = workflows.length ? 'no change: every workflow is at this version or later' : 'no workflow on this page';
    } else {
      try {
        const page = await this.deps.confluence.getPage(ev.clientKey, ev.pageId, { version, type: contentTypeOfEvent(ev.event) });
        const after = await this.deps.approvals.applyPageVersion(ev.clientKey, ev.pageId, page, this.actorOf(ev), 'webhook');
        if (workflows.some((w) => w.appUnreadableSince)) await this.deps.approvals.markAppAccess(ev.clientKey, ev.pageId, true);
        outcome = `applied version ${version}: ${after.map((w) => `${w.macroId}=${w.state}@v${w.boundVersion}`).join(', ')}`;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        // Confluence signed this event, so the content exists (or did a moment ago): either it was removed
        // since (its *_removed event archives it) or it is restricted from the app. The dashboard shows
        // the latter; a later event or render that can read it clears the mark.
        await this.deps.approvals.markAppAccess(ev.clientKey, ev.pageId, false);
        outcome = `version ${version} cannot be read by the app (removed, or restricted from the app)`;
      }
    }
    await this.deps.stores.inbox.markProcessed(ev.clientKey, ev.id, outcome, this.deps.clock.now());
    return outcome;
  }

  /** Where the page is now comes from Confluence (v2), not from the payload: a late delivery cannot move it back. */
  private async pageMoved(ev: PageEvent): Promise<string> {
    const workflows = await this.deps.approvals.workflowsOfPage(ev.clientKey, ev.pageId);
    let outcome = 'no workflow on this page';
    if (workflows.length) {
      try {
        const page = await this.deps.confluence.getPage(ev.clientKey, ev.pageId, { type: contentTypeOfEvent(ev.event) });
        const moved = (await this.deps.approvals.followPageSpace(ev.clientKey, ev.pageId, page.spaceKey, this.actorOf(ev), 'webhook')).filter(
          (w) => !workflows.some((before) => before.id === w.id && before.spaceKey === w.spaceKey),
        );
        outcome = moved.length ? `moved ${moved.length} workflow(s) to ${page.spaceKey}` : `no change: already in ${page.spaceKey}`;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await this.deps.approvals.markAppAccess(ev.clientKey, ev.pageId, false);
        outcome = 'the page cannot be read by the app (removed, or restricted from the app)';
      }
    }
    await this.deps.stores.inbox.markProcessed(ev.clientKey, ev.id, outcome, this.deps.clock.now());
    return outcome;
  }

  private async statusChanged(ev: PageEvent): Promise<string> {
    const restore = ev.event.endsWith('_restored');
    const { outcome, current } = await this.deps.stores.transaction(async (tx) => {
      await tx.inbox.lockPage(ev.clientKey, ev.pageId);
      const newer = await tx.inbox.newerStatusEvent(ev.clientKey, ev.pageId, ev.eventAt);
      let said: string;
      if (newer) {
        said = `stale: ${newer.event} at ${newer.eventAt.toISOString()} was later`;
      } else {
        const changed = await this.deps.approvals.setPageArchived(tx.approvals, ev.clientKey, ev.pageId, !restore, this.actorOf(ev), ev.event);
        said = changed.length ? `${restore ? 'restored' : 'archived'} ${changed.length} workflow(s)` : 'no change';
      }
      // A restore is processed only once the workflows are at the page's current version (below).
      if (!restore || newer) await tx.inbox.markProcessed(ev.clientKey, ev.id, said, this.deps.clock.now());
      return { outcome: said, current: restore && !newer };
    });
    if (!current) return outcome;
    const caughtUp = `${outcome}; ${await this.catchUpOnRestore(ev)}`;
    await this.deps.stores.inbox.markProcessed(ev.clientKey, ev.id, caughtUp, this.deps.clock.now());
    return caughtUp;
  }

  /**
   * An archived workflow takes no new version (its page is trashed), so an edit whose webhook came while the page
   * was in the trash was passed over: a restored page is read as it is now, and its workflows brought to that
   * version (an approval of the content before the edit is then outdated, as after any edit). A failure leaves the
   * restore unprocessed for the retry job, which restores nothing twice and reads the page again.
   */
  private async catchUpOnRestore(ev: PageEvent): Promise<string> {
    const workflows = (await this.deps.approvals.workflowsOfPage(ev.clientKey, ev.pageId)).filter((w) => w.state !== 'archived');
    if (!workflows.length) return 'no open workflow';
    try {
      const page = await this.deps.confluence.getPage(ev.clientKey, ev.pageId, { type: contentTypeOfEvent(ev.event) });
      if (!workflows.some((w) => w.boundVersion < page.version)) return `at the current version ${page.version}`;
      const after = await this.deps.approvals.applyPageVersion(ev.clientKey, ev.pageId, page, this.actorOf(ev), 'webhook');
      return `applied the current version ${page.version}: ${after.map((w) => `${w.macroId}=${w.state}@v${w.boundVersion}`).join(', ')}`;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      await this.deps.approvals.markAppAccess(ev.clientKey, ev.pageId, false);
      return 'its current version cannot be read by the app (removed, or restricted from the app)';
    }
  }
}
