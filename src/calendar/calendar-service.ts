import { createHash } from 'node:crypto';
import { DAY_MS, isOpen } from '../approvals/approval-rules';
import type { Principal } from '../confluence/connect-auth';
import { contentUrl } from '../confluence/confluence-client';
import type { Clock } from '../lib/clock';
import { NotAllowedError, NotFoundError } from '../lib/errors';
import { parseInput } from '../lib/http';
import type { Logger } from '../lib/logger';
import type { SpaceAdminCheck } from '../spaces/space-admin';
import { CalendarEventInput, CalendarInput, renderCalendar } from './calendar-ics';
import { calendarFeedBody } from './calendar-schemas';
import type { CalendarDate, CalendarStores } from './calendar-store';
import { feedFileName, newFeedCredentials, parseFeedFileName, secretMatches, secretSha256 } from './calendar-token';

/**
 * At most this many workflows in one feed (≤ 2 events each). ical-generator folds lines one character at a
 * time (a TextEncoder per character): 1000 events, about 530 KiB, take a second or more of CPU on a loaded
 * machine, so the feed stays this small and a feed whose events did not change is served from memory.
 */
export const MAX_FEED_WORKFLOWS = 500;
/** Rendered feeds kept in memory (per process), by feed id: the text and what it was rendered from. */
const RENDERED_FEEDS = 200;
/** Dates further back than this are history, not a cadence: the feed leaves them out. */
export const FEED_HISTORY_DAYS = 90;

export interface CalendarFeedStatus {
  spaceKey: string;
  exists: boolean;
  showTitles: boolean;
  createdAt: string | null;
}

/** Shown once, when the URL is made: only its hash is kept. */
export interface NewCalendarFeed extends CalendarFeedStatus {
  url: string;
  /** The same URL as webcal://, which opens the subscribe dialog of Outlook and Apple Calendar. */
  webcalUrl: string;
  rotated: boolean;
}

const NO_FEED = 'There is no calendar at this address: it was revoked or replaced by a new URL, or never existed.';
/** Compared against when the feed id is unknown, so an unknown id costs what a wrong secret costs. */
const UNKNOWN_FEED_HASH = secretSha256('no feed has this secret');

/**
 * A space's calendar subscription (issue 17): due dates and review (recertification) dates of its workflows
 * as iCalendar, behind a secret URL that a space admin creates, replaces and revokes.
 */
export class CalendarService {
  private readonly rendered = new Map<string, { key: string; text: string }>();

  constructor(
    private readonly deps: {
      stores: CalendarStores;
      admins: SpaceAdminCheck;
      /** The installed tenant's Confluence base URL (null when not installed): event links point there. */
      hostBaseUrl: (clientKey: string) => Promise<string | null>;
      /** The add-on's public base URL: feed URLs start with it. */
      localBaseUrl: string;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  private async assertSpaceAdmin(p: Principal, spaceKey: string): Promise<void> {
    if (!(await this.deps.admins.isSpaceAdmin(p.clientKey, spaceKey, p.accountId))) {
      throw new NotAllowedError(`Only admins of space ${spaceKey} can see and change its calendar subscription.`);
    }
  }

  async status(p: Principal, spaceKey: string): Promise<CalendarFeedStatus> {
    await this.assertSpaceAdmin(p, spaceKey);
    const feed = await this.deps.stores.calendar.find(p.clientKey, spaceKey);
    return { spaceKey, exists: !!feed, showTitles: feed?.showTitles ?? false, createdAt: feed?.createdAt.toISOString() ?? null };
  }

  /** Creates the space's feed URL, or replaces it: the old URL answers 404 from the commit on. */
  async create(p: Principal, spaceKey: string, body: unknown): Promise<NewCalendarFeed> {
    await this.assertSpaceAdmin(p, spaceKey);
    const opts = parseInput(calendarFeedBody, body);
    const credentials = newFeedCredentials();
    const { feed, rotated, previousFeedId } = await this.deps.stores.transaction(async (tx) => {
      const before = await tx.feeds.lock(p.clientKey, spaceKey);
      const feed = await tx.feeds.put(p.clientKey, spaceKey, { feedId: credentials.feedId, secretSha256: secretSha256(credentials.secret), showTitles: opts.showTitles });
      await tx.audit.append(p.clientKey, {
        action: before ? 'calendar-feed.rotated' : 'calendar-feed.created',
        actor: { type: 'user', accountId: p.accountId },
        spaceKey,
        data: { showTitles: opts.showTitles },
      });
      return { feed, rotated: !!before, previousFeedId: before?.feedId ?? null };
    });
    if (previousFeedId) this.rendered.delete(previousFeedId);
    this.deps.logger.info({ clientKey: p.clientKey, spaceKey, rotated }, rotated ? 'calendar feed URL replaced' : 'calendar feed created');
    const url = `${this.deps.localBaseUrl.replace(/\/$/, '')}/calendar/${feedFileName(credentials)}`;
    return {
      spaceKey,
      exists: true,
      showTitles: feed.showTitles,
      createdAt: feed.createdAt.toISOString(),
      url,
      webcalUrl: url.replace(/^https?:/, 'webcal:'),
      rotated,
    };
  }

  async configure(p: Principal, spaceKey: string, body: unknown): Promise<CalendarFeedStatus & { changed: boolean }> {
    await this.assertSpaceAdmin(p, spaceKey);
    const opts = parseInput(calendarFeedBody, body);
    const { feed, changed } = await this.deps.stores.transaction(async (tx) => {
      const before = await tx.feeds.lock(p.clientKey, spaceKey);
      if (!before) throw new NotFoundError(`Space ${spaceKey} has no calendar subscription: create one first.`);
      if (before.showTitles === opts.showTitles) return { feed: before, changed: false };
      const feed = await tx.feeds.setShowTitles(p.clientKey, spaceKey, opts.showTitles);
      await tx.audit.append(p.clientKey, {
        action: 'calendar-feed.configured',
        actor: { type: 'user', accountId: p.accountId },
        spaceKey,
        data: { showTitles: opts.showTitles },
      });
      return { feed, changed: true };
    });
    return { spaceKey, exists: true, showTitles: feed.showTitles, createdAt: feed.createdAt.toISOString(), changed };
  }

  async revoke(p: Principal, spaceKey: string): Promise<void> {
    await this.assertSpaceAdmin(p, spaceKey);
    const revoked = await this.deps.stores.transaction(async (tx) => {
      const before = await tx.feeds.lock(p.clientKey, spaceKey);
      if (!before) throw new NotFoundError(`Space ${spaceKey} has no calendar subscription to revoke.`);
      await tx.feeds.remove(p.clientKey, spaceKey);
      await tx.audit.append(p.clientKey, {
        action: 'calendar-feed.revoked',
        actor: { type: 'user', accountId: p.accountId },
        spaceKey,
        data: { showTitles: before.showTitles },
      });
      return before;
    });
    // Unreachable anyway (the row is gone), but a revoked calendar's text should not stay in memory.
    this.rendered.delete(revoked.feedId);
    this.deps.logger.info({ clientKey: p.clientKey, spaceKey }, 'calendar feed revoked');
  }

  /**
   * The calendar behind a feed URL's last segment. Unknown, revoked, replaced and malformed URLs, and feeds
   * of an uninstalled tenant, all answer the same 404: a caller learns nothing about which it was.
   */
  async calendar(fileName: string): Promise<string> {
    const credentials = parseFeedFileName(fileName);
    const feed = credentials ? await this.deps.stores.calendar.findByFeedId(credentials.feedId) : null;
    const matches = secretMatches(credentials?.secret ?? '', feed?.secretSha256 ?? UNKNOWN_FEED_HASH);
    if (!feed || !matches) throw new NotFoundError(NO_FEED);
    const hostBaseUrl = await this.deps.hostBaseUrl(feed.clientKey);
    if (!hostBaseUrl) throw new NotFoundError(NO_FEED);

    const from = new Date(this.deps.clock.now().getTime() - FEED_HISTORY_DAYS * DAY_MS).toISOString().slice(0, 10);
    const found = await this.deps.stores.calendar.datedWorkflows(feed.clientKey, feed.spaceKey, from, MAX_FEED_WORKFLOWS + 1);
    const workflows = found.slice(0, MAX_FEED_WORKFLOWS);
    const dates: CalendarDate[] = [];
    for (const wf of workflows) {
      if (wf.dueDate && isOpen(wf.state) && wf.dueDate >= from) dates.push({ workflowId: wf.id, kind: 'due', date: wf.dueDate });
      const review = wf.expiresAt?.toISOString().slice(0, 10);
      if (review && review >= from) dates.push({ workflowId: wf.id, kind: 'review', date: review });
    }
    const revisions = new Map((await this.deps.stores.calendar.revise(feed.clientKey, dates)).map((r) => [`${r.kind} ${r.workflowId}`, r]));
    const byId = new Map(workflows.map((wf) => [wf.id, wf]));
    const events: CalendarEventInput[] = dates.map((d) => {
      const wf = byId.get(d.workflowId)!;
      const rev = revisions.get(`${d.kind} ${d.workflowId}`);
      return {
        workflowId: wf.id,
        kind: d.kind,
        date: d.date,
        sequence: rev?.sequence ?? 0,
        revisedAt: rev?.revisedAt ?? wf.updatedAt,
        pageId: wf.pageId,
        pageUrl: contentUrl(hostBaseUrl, wf),
        pageTitle: wf.pageTitle,
        workflowTitle: wf.title,
      };
    });
    return this.render(feed.feedId, {
      spaceKey: feed.spaceKey,
      showTitles: feed.showTitles,
      uidDomain: new URL(this.deps.localBaseUrl).hostname,
      events,
      truncated: found.length > MAX_FEED_WORKFLOWS,
    });
  }

  /** The calendar text, rendered again only when what it shows changed (any field of any event). */
  private render(feedId: string, input: CalendarInput): string {
    const key = createHash('sha256').update(JSON.stringify(input)).digest('base64');
    const hit = this.rendered.get(feedId);
    if (hit?.key === key) return hit.text;
    const text = renderCalendar(input);
    this.rendered.delete(feedId);
    if (this.rendered.size >= RENDERED_FEEDS) this.rendered.delete(this.rendered.keys().next().value as string);
    this.rendered.set(feedId, { key, text });
    return text;
  }
}
