/**
 * A space's calendar as iCalendar text (RFC 5545), written by ical-generator. Pure: the service hands it
 * the events and what the space admin allows the feed to reveal.
 */
import ical from 'ical-generator';
import { DAY_MS } from '../approvals/approval-rules';

export type CalendarEventKind = 'due' | 'review';

export interface CalendarEventInput {
  workflowId: string;
  kind: CalendarEventKind;
  /** YYYY-MM-DD: an all-day event on that UTC date. */
  date: string;
  /** Raised each time the date moves (RFC 5545 3.8.7.4); the UID stays. */
  sequence: number;
  /** When the date last moved (DTSTAMP, LAST-MODIFIED). */
  revisedAt: Date;
  pageId: string;
  pageUrl: string;
  /** Shown only when the feed allows titles. */
  pageTitle: string;
  workflowTitle: string | null;
}

export interface CalendarInput {
  spaceKey: string;
  showTitles: boolean;
  /** The add-on's host name: UIDs are `<kind>-<workflow id>@<host>` (RFC 5545 3.8.4.7: globally unique). */
  uidDomain: string;
  events: CalendarEventInput[];
  /** True when the space had more dated workflows than a feed carries. */
  truncated: boolean;
}

const WHAT: Record<CalendarEventKind, { summary: string; description: string }> = {
  due: { summary: 'Approval due', description: 'An approval in Attest is due on this page.' },
  review: { summary: 'Review due', description: 'The approval of this page expires today under its review interval (recertification): it needs approving again.' },
};

/** The event's UID: the same workflow and kind keep it whatever their date, so clients update in place. */
export function eventUid(kind: CalendarEventKind, workflowId: string, uidDomain: string): string {
  return `${kind}-${workflowId}@${uidDomain}`;
}

/**
 * The summary of one event. Without titles it names the page by its id only: whoever holds the URL may
 * not be able to read the space, and a page title can say more than it should.
 */
export function eventSummary(e: Pick<CalendarEventInput, 'kind' | 'pageId' | 'pageTitle' | 'workflowTitle'>, showTitles: boolean): string {
  const what = WHAT[e.kind].summary;
  if (!showTitles) return `${what} (page ${e.pageId})`;
  return `${what}: ${e.pageTitle}${e.workflowTitle ? ` — ${e.workflowTitle}` : ''}`;
}

export function renderCalendar(input: CalendarInput): string {
  const cal = ical({
    prodId: { company: 'Attest', product: 'Attest review calendar', language: 'EN' },
    name: input.showTitles ? `Attest: approvals in ${input.spaceKey}` : 'Attest: approvals',
    description: input.truncated ? 'Only the earliest dates are shown: the space has more than one calendar carries.' : undefined,
    // No METHOD: then DTSTAMP means "when this event's information was last revised" (RFC 5545 3.8.7.2),
    // which is what revisedAt is. REFRESH-INTERVAL / X-PUBLISHED-TTL: how often clients should ask again.
    ttl: 60 * 60,
  });
  for (const e of input.events) {
    const day = new Date(`${e.date}T00:00:00.000Z`);
    cal.createEvent({
      id: eventUid(e.kind, e.workflowId, input.uidDomain),
      sequence: e.sequence,
      stamp: e.revisedAt,
      lastModified: e.revisedAt,
      start: day,
      end: new Date(day.getTime() + DAY_MS),
      allDay: true,
      summary: eventSummary(e, input.showTitles),
      description: `${WHAT[e.kind].description} Confluence checks your access when you open it.`,
      url: e.pageUrl,
    });
  }
  return cal.toString();
}
