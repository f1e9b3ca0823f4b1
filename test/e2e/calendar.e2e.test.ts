import ical, { VEvent } from 'node-ical';
import request from 'supertest';
import { contentUrl } from '../../src/confluence/confluence-client';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * The space calendar subscription (issue 17) through the whole stack: the devhost installs the add-on and
 * renders macros with `due` and `review`, a space admin creates the feed URL through the API with a devhost
 * context JWT, and the feed is read as a calendar client reads it (no JWT) and parsed with node-ical, a
 * parser that shares no code with the ical-generator that writes it.
 */
describe('calendar subscription end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const feedApi = (as: string, spaceKey: string, clientKey?: string) => {
    const token = d.contextJwt(as, { spaceKey }, clientKey ? { clientKey } : undefined);
    const url = `/api/spaces/${spaceKey}/calendar-feed`;
    return {
      status: () => request(t.baseUrl).get(url).set('Authorization', `JWT ${token}`),
      create: (body: object) => request(t.baseUrl).post(url).set('Authorization', `JWT ${token}`).send(body),
      configure: (body: object) => request(t.baseUrl).put(url).set('Authorization', `JWT ${token}`).send(body),
      revoke: () => request(t.baseUrl).delete(url).set('Authorization', `JWT ${token}`),
    };
  };
  const engAdmin = () => feedApi(d.users.spaceAdmin.accountId, 'ENG');
  /** What a calendar client does: a plain GET of the URL, no JWT, no cookie. */
  const fetchFeed = (url: string) => request(t.baseUrl).get(url.slice(t.baseUrl.length)).set('Accept', 'text/calendar, */*');
  const parse = (text: string): VEvent[] =>
    Object.values(ical.sync.parseICS(text)).filter((c): c is VEvent => !!c && (c as { type?: string }).type === 'VEVENT');
  /** node-ical gives a date-only start as local midnight of that date. */
  const day = (date: Date) => `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
  const workflowOf = (pageKey: keyof typeof d.pages, clientKey = d.clientKey) =>
    t.db('workflows').where({ client_key: clientKey, page_id: d.pages[pageKey].id, macro_id: d.pages[pageKey].macroIds[0] }).first();
  const calendarEvents = (clientKey = d.clientKey) =>
    t.db('audit_events').where({ client_key: clientKey }).where('action', 'like', 'calendar-feed.%').orderBy('seq');
  const render = async (as: string, pageKey: keyof typeof d.pages) => {
    const res = await macroRequests(t).render(as, pageKey);
    expect(res.status).toBe(200);
  };
  const moveDue = async (pageKey: keyof typeof d.pages, due: string) => {
    const page = d.pages[pageKey];
    const params = d.page(page.id).macros[0].params;
    await d.saveMacro(page.id, page.macroIds[0], { ...params, due }, d.users.author.accountId);
    // Confluence shows the saved macro: its render applies the new configuration.
    await render(d.users.alice.accountId, pageKey);
  };

  let engUrl = '';

  it('lets only a space admin create the URL, with a strictly checked body, and shows it once', async () => {
    await render(d.users.alice.accountId, 'onCall'); // due 2026-12-31
    await render(d.users.alice.accountId, 'releaseChecklist'); // no dates

    const nora = feedApi(d.users.nora.accountId, 'ENG');
    expect((await nora.create({ showTitles: false })).status).toBe(403);
    // The permission is the service's, checked before the body: a non-admin learns nothing about the body's rules.
    expect((await nora.create({ showTitles: 'yes' })).status).toBe(403);
    expect((await nora.configure({ extra: 1 })).status).toBe(403);
    expect((await nora.status()).status).toBe(403);
    expect((await request(t.baseUrl).post('/api/spaces/ENG/calendar-feed').send({ showTitles: false })).status).toBe(401);
    for (const [body, message] of [
      [{}, /Include page titles in the calendar/],
      [{ showTitles: 'yes' }, /must be true or false/],
      [{ showTitles: true, extra: 1 }, /extra/],
    ] as Array<[object, RegExp]>) {
      const res = await engAdmin().create(body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await engAdmin().configure({ showTitles: true })).status).toBe(404);
    expect((await engAdmin().revoke()).status).toBe(404);
    expect(await t.db('calendar_feeds')).toHaveLength(0);

    const created = await engAdmin().create({ showTitles: false });
    expect(created.status).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(created.body).toMatchObject({ spaceKey: 'ENG', exists: true, showTitles: false, rotated: false });
    engUrl = created.body.url;
    expect(engUrl).toMatch(new RegExp(`^${t.baseUrl}/calendar/atcap_[A-Za-z0-9_-]{65}\\.ics$`));
    expect(created.body.webcalUrl).toBe(engUrl.replace(/^http:/, 'webcal:'));

    // Afterwards the URL is nowhere: not in the status, not in the database, not in the audit chain.
    const status = await engAdmin().status();
    expect(status.body).toMatchObject({ exists: true, showTitles: false });
    expect(JSON.stringify(status.body)).not.toContain('atcap_');
    const secret = engUrl.slice(-47, -4);
    const feedId = engUrl.split('atcap_')[1].slice(0, 22);
    const rows = await t.db.raw(`select t::text as row from calendar_feeds t`);
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0].row).toContain(feedId);
    expect(rows.rows[0].row).not.toContain(secret);
    const [event] = await calendarEvents();
    expect(event).toMatchObject({ action: 'calendar-feed.created', space_key: 'ENG' });
    expect(JSON.parse(event.canonical).data).toEqual({ showTitles: false });
    expect(event.canonical).not.toContain(secret);
    expect(event.canonical).not.toContain(d.users.spaceAdmin.accountId);
  });

  it('serves the space as text/calendar that node-ical parses: neutral summaries, links to the pages', async () => {
    const res = await fetchFeed(engUrl);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/calendar; charset=utf-8');
    expect(res.headers['cache-control']).toBe('private, no-store');
    const events = parse(res.text);
    const onCall = await workflowOf('onCall');
    expect(events.map((e) => e.uid)).toEqual([`due-${onCall.id}@127.0.0.1`]);
    const [due] = events;
    expect(day(due.start)).toBe('2026-12-31');
    expect(due.datetype).toBe('date');
    expect(due.summary).toBe(`Approval due (page ${d.pages.onCall.id})`);
    expect((due.url as unknown as { val: string }).val ?? due.url).toBe(contentUrl(d.baseUrl, { spaceKey: 'ENG', pageId: d.pages.onCall.id, contentType: 'page' }));
    // Titles are off: nothing of the page's title or content, the space name or people.
    expect(res.text).not.toContain('On-call');
    expect(res.text).not.toContain(d.users.alice.accountId);
  });

  it('updates a moved due date in place: same UID, higher SEQUENCE, newer DTSTAMP', async () => {
    const [before] = parse((await fetchFeed(engUrl)).text);
    // Reading the feed again without a change changes nothing.
    const [again] = parse((await fetchFeed(engUrl)).text);
    expect(again.sequence).toBe(before.sequence);
    expect(again.dtstamp.getTime()).toBe(before.dtstamp.getTime());

    await moveDue('onCall', '2027-01-15');
    const [moved] = parse((await fetchFeed(engUrl)).text);
    expect(moved.uid).toBe(before.uid);
    expect(day(moved.start)).toBe('2027-01-15');
    expect(Number(moved.sequence)).toBe(Number(before.sequence) + 1);
    expect(moved.dtstamp.getTime()).toBeGreaterThan(before.dtstamp.getTime());

    await moveDue('onCall', '2027-02-01');
    const [movedTwice] = parse((await fetchFeed(engUrl)).text);
    expect(movedTwice.uid).toBe(before.uid);
    expect(Number(movedTwice.sequence)).toBe(Number(before.sequence) + 2);
  });

  it('shows a review (recertification) date, and drops a due date once the workflow is approved', async () => {
    const page = d.pages.onCall;
    const params = d.page(page.id).macros[0].params;
    await d.saveMacro(page.id, page.macroIds[0], { ...params, review: '30' }, d.users.author.accountId);
    await render(d.users.alice.accountId, 'onCall');
    const wf = await workflowOf('onCall');
    const approved = await macroRequests(t).api(d.users.bob.accountId, 'onCall').decide({ decision: 'approve', comment: '', pageVersion: wf.bound_version });
    expect(approved.status).toBe(201);
    const after = await workflowOf('onCall');
    expect(after.state).toBe('approved');
    const events = parse((await fetchFeed(engUrl)).text);
    expect(events.map((e) => e.uid)).toEqual([`review-${wf.id}@127.0.0.1`]);
    expect(day(events[0].start)).toBe(after.expires_at.toISOString().slice(0, 10));
    expect(events[0].summary).toBe(`Review due (page ${page.id})`);
  });

  it('names pages by title only when the space admin allows it, and audits the change', async () => {
    const on = await engAdmin().configure({ showTitles: true });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ showTitles: true, changed: true });
    const text = (await fetchFeed(engUrl)).text;
    expect(parse(text)[0].summary).toBe('Review due: On-call handbook');
    expect((await engAdmin().configure({ showTitles: true })).body.changed).toBe(false);
    const off = await engAdmin().configure({ showTitles: false });
    expect(off.body.changed).toBe(true);
    expect((await fetchFeed(engUrl)).text).not.toContain('On-call');
    const actions = (await calendarEvents()).map((e: { action: string; canonical: string }) => [e.action, JSON.parse(e.canonical).data.showTitles]);
    expect(actions).toEqual([
      ['calendar-feed.created', false],
      ['calendar-feed.configured', true],
      ['calendar-feed.configured', false],
    ]);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it("never shows another space's or another installation's workflows", async () => {
    // SEC has workflows with dates too: a review interval on the access review, approved.
    await render(d.users.secMember.accountId, 'accessReview');
    const review = await workflowOf('accessReview');
    const decided = await macroRequests(t).api(d.users.secMember.accountId, 'accessReview').decide({ decision: 'approve', comment: '', pageVersion: review.bound_version });
    expect(decided.status).toBe(201);
    const sec = await feedApi(d.users.siteAdmin.accountId, 'SEC').create({ showTitles: true });
    expect(sec.status).toBe(201);
    const secEvents = parse((await fetchFeed(sec.body.url)).text);
    expect(secEvents.map((e) => e.uid)).toEqual([`review-${review.id}@127.0.0.1`]);
    expect(secEvents[0].summary).toBe('Review due: Quarterly access review');

    // A second installation of the same site, with its own workflow on the same page and a feed of its own.
    const other = await d.installTenant({ clientKey: 'calendar-other-site' });
    const page = d.pages.onCall;
    const res = await request(t.baseUrl).get(macroRequests(t).path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0], { clientKey: other.clientKey })));
    expect(res.status).toBe(200);
    const otherWf = await workflowOf('onCall', other.clientKey);
    expect(otherWf).toBeTruthy();
    const otherFeed = await feedApi(d.users.spaceAdmin.accountId, 'ENG', other.clientKey).create({ showTitles: false });
    expect(otherFeed.status).toBe(201);
    expect(otherFeed.body.url).not.toBe(engUrl);

    const ours = await t.db('workflows').where({ client_key: d.clientKey, space_key: 'ENG' }).pluck('id');
    const engUids = parse((await fetchFeed(engUrl)).text).map((e) => e.uid);
    expect(engUids.length).toBeGreaterThan(0);
    for (const uid of engUids) expect(ours).toContain(uid.replace(/^(due|review)-/, '').replace(/@.*$/, ''));
    expect(engUids.join()).not.toContain(otherWf.id);
    expect(engUids.join()).not.toContain(review.id);
    const otherUids = parse((await fetchFeed(otherFeed.body.url)).text).map((e) => e.uid);
    // Nobody approved it there: its due date shows (same page, its own workflow and UID).
    expect(otherUids).toEqual([`due-${otherWf.id}@127.0.0.1`]);
    // The other installation's admin API sees its own feed only.
    expect((await feedApi(d.users.spaceAdmin.accountId, 'SEC', other.clientKey).status()).body.exists).toBe(false);
    // An uninstalled installation's feed answers 404 like a revoked one.
    await d.uninstallTenant(other.clientKey);
    expect((await fetchFeed(otherFeed.body.url)).status).toBe(404);
  });

  it('rotation ends the old URL at once; a revoked URL answers 404; both are audit events', async () => {
    const rotated = await engAdmin().create({ showTitles: false });
    expect(rotated.status).toBe(201);
    expect(rotated.body.rotated).toBe(true);
    const newUrl = rotated.body.url;
    expect(newUrl).not.toBe(engUrl);
    const old = await fetchFeed(engUrl);
    expect(old.status).toBe(404);
    expect(old.text).toContain('There is no calendar at this address');
    expect(old.text).not.toContain('BEGIN:VCALENDAR');
    expect((await fetchFeed(newUrl)).status).toBe(200);

    // The right feed id with another secret, a malformed name, an unknown id: the same 404.
    const feedId = newUrl.split('atcap_')[1].slice(0, 22);
    const guesses = [
      `${t.baseUrl}/calendar/atcap_${feedId}${'A'.repeat(43)}.ics`,
      `${t.baseUrl}/calendar/atcap_${feedId}.ics`,
      `${t.baseUrl}/calendar/${newUrl.split('/calendar/')[1].replace('.ics', '')}`,
      `${t.baseUrl}/calendar/${'x'.repeat(199)}`,
    ];
    for (const url of guesses) expect((await fetchFeed(url)).status).toBe(404);

    expect((await engAdmin().revoke()).status).toBe(204);
    expect((await fetchFeed(newUrl)).status).toBe(404);
    expect((await engAdmin().status()).body).toMatchObject({ exists: false });
    expect((await t.db('calendar_feeds').where({ client_key: d.clientKey, space_key: 'ENG' }))).toHaveLength(0);
    const actions = (await calendarEvents()).map((e: { action: string }) => e.action);
    expect(actions.slice(-2)).toEqual(['calendar-feed.rotated', 'calendar-feed.revoked']);

    // Two admins creating at once: they queue; the second replaces the first (one created, one rotated).
    const [a, b] = await Promise.all([engAdmin().create({ showTitles: false }), engAdmin().create({ showTitles: false })]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect([a.body.rotated, b.body.rotated].sort()).toEqual([false, true]);
    const [first, second] = a.body.rotated ? [b, a] : [a, b];
    expect((await fetchFeed(first.body.url)).status).toBe(404);
    expect((await fetchFeed(second.body.url)).status).toBe(200);
    expect((await calendarEvents()).slice(-2).map((e: { action: string }) => e.action)).toEqual(['calendar-feed.created', 'calendar-feed.rotated']);
    expect((await engAdmin().revoke()).status).toBe(204);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('limits how often one feed may be read (429 with a plain message), feed by feed', async () => {
    const url = (await engAdmin().create({ showTitles: false })).body.url;
    const statuses: number[] = [];
    for (let i = 0; i < 40 && !statuses.includes(429); i++) statuses.push((await fetchFeed(url)).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const refused = await request(t.baseUrl).get(url.slice(t.baseUrl.length)).set('Accept', 'application/json');
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toBe('This calendar was asked for too often: try again in a minute.');
    // Another space's feed is counted apart (calendar services fetch every feed from the same addresses).
    const sec = await feedApi(d.users.siteAdmin.accountId, 'SEC').create({ showTitles: false });
    expect((await fetchFeed(sec.body.url)).status).toBe(200);
  });
});
