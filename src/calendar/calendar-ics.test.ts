import ical, { VEvent } from 'node-ical';
import { CalendarEventInput, eventSummary, renderCalendar } from './calendar-ics';

const event = (over: Partial<CalendarEventInput> = {}): CalendarEventInput => ({
  workflowId: '9b1c2d3e-0000-4000-8000-000000000001',
  kind: 'due',
  date: '2026-12-31',
  sequence: 0,
  revisedAt: new Date('2026-12-01T10:00:00.000Z'),
  pageId: '12345',
  pageUrl: 'https://site.example/wiki/spaces/ENG/pages/12345',
  pageTitle: 'Merger plan: Acme, Inc.; "confidential"',
  workflowTitle: 'Legal sign-off',
  ...over,
});

const events = (text: string) => Object.values(ical.sync.parseICS(text)).filter((c): c is VEvent => (c as { type?: string })?.type === 'VEVENT');

describe('renderCalendar', () => {
  it('names a page by its id only unless titles are allowed', () => {
    expect(eventSummary(event(), false)).toBe('Approval due (page 12345)');
    expect(eventSummary(event({ kind: 'review' }), false)).toBe('Review due (page 12345)');
    expect(eventSummary(event(), true)).toBe('Approval due: Merger plan: Acme, Inc.; "confidential" — Legal sign-off');
    expect(eventSummary(event({ workflowTitle: null }), true)).toBe('Approval due: Merger plan: Acme, Inc.; "confidential"');
    const hidden = renderCalendar({ spaceKey: 'ENG', showTitles: false, uidDomain: 'attest.example', events: [event()], truncated: false });
    expect(hidden).not.toMatch(/Merger|Legal|ENG\b(?!\/)/);
  });

  it('writes all-day events an independent parser reads back, with text escaped (RFC 5545 3.3.11)', () => {
    const text = renderCalendar({ spaceKey: 'ENG', showTitles: true, uidDomain: 'attest.example', events: [event({ sequence: 3 }), event({ kind: 'review', date: '2027-03-01' })], truncated: false });
    // Commas and semicolons escaped, long lines folded at 75 octets.
    expect(text).toContain('Acme\\, Inc.\\;');
    expect(text.split('\r\n').every((line) => Buffer.byteLength(line) <= 75)).toBe(true);
    const [due, review] = events(text);
    expect(due).toMatchObject({ uid: 'due-9b1c2d3e-0000-4000-8000-000000000001@attest.example', sequence: 3, datetype: 'date' });
    expect(due.summary).toBe('Approval due: Merger plan: Acme, Inc.; "confidential" — Legal sign-off');
    expect(due.dtstamp.toISOString()).toBe('2026-12-01T10:00:00.000Z');
    expect(review.uid).toBe('review-9b1c2d3e-0000-4000-8000-000000000001@attest.example');
    expect(review.end!.getTime() - review.start.getTime()).toBe(86_400_000);
  });

  it('says when a space had more dated workflows than a feed carries', () => {
    expect(renderCalendar({ spaceKey: 'ENG', showTitles: false, uidDomain: 'a.example', events: [], truncated: true })).toContain('Only the earliest dates are shown');
    expect(renderCalendar({ spaceKey: 'ENG', showTitles: false, uidDomain: 'a.example', events: [], truncated: false })).not.toContain('Only the earliest');
  });
});
