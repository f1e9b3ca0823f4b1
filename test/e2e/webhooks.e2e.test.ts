import request from 'supertest';
import { ManualClock } from '../../src/lib/clock';
import type { WebhookDelivery } from '../../src/devhost/devhost';
import { startTestApp, TestApp } from '../helpers/test-app';

/** Page webhooks through the whole stack: devhost-signed deliveries, the inbox, approvals, the chain. */
describe('page webhooks end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  const clock = new ManualClock('2026-03-02T09:00:00.000Z');
  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  type PageName = keyof typeof d.pages;
  const path = (url: string) => url.slice(t.baseUrl.length);
  const render = (as: string, name: PageName) => {
    const page = d.pages[name];
    return request(t.baseUrl).get(path(d.macroUrl(as, page.id, page.macroIds[0])));
  };
  const approve = async (as: string, name: PageName) => {
    const page = d.pages[name];
    const token = d.contextJwt(as, { pageId: page.id });
    const wf = await workflow(name);
    const res = await request(t.baseUrl)
      .post(`/api/pages/${page.id}/workflows/${page.macroIds[0]}/decisions`)
      .set('Authorization', `JWT ${token}`)
      .send({ decision: 'approve', comment: 'ok', pageVersion: wf.bound_version });
    expect(res.status).toBe(201);
    return res.body;
  };
  const workflow = (name: PageName) => t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages[name].id }).first();
  const events = (action?: string) =>
    t.db('audit_events').where({ client_key: d.clientKey }).modify((q) => (action ? q.where({ action }) : q)).orderBy('seq');
  const settled = () => t.pageEvents.settled();
  const tick = () => clock.advance(60_000);
  const later = (delivery: WebhookDelivery, ms: number): WebhookDelivery => ({
    ...delivery,
    body: { ...delivery.body, timestamp: (delivery.body.timestamp as number) + ms },
  });

  it('an edit with new content makes an approved workflow outdated and binds it to the new version', async () => {
    await render(d.users.alice.accountId, 'releaseChecklist');
    await approve(d.users.alice.accountId, 'releaseChecklist');
    expect((await approve(d.users.bob.accountId, 'releaseChecklist')).state).toBe('approved');
    const before = await workflow('releaseChecklist');
    tick();
    const edit = await d.editPage(d.pages.releaseChecklist.id, {
      body: `${d.page(d.pages.releaseChecklist.id).body}<p>Also: notify support.</p>`,
      as: d.users.author.accountId,
    });
    expect(edit.webhook?.status).toBe(204);
    await settled();
    const after = await workflow('releaseChecklist');
    expect(after).toMatchObject({ state: 'outdated', bound_version: edit.version, round: before.round + 1 });
    expect(after.body_hash).not.toBe(before.body_hash);
    const [ev] = await events('workflow.outdated');
    expect(JSON.parse(ev.canonical)).toMatchObject({
      actor: { type: 'confluence' },
      page: { version: edit.version },
      data: { fromVersion: before.bound_version, toVersion: edit.version, contentChanged: true, cause: 'webhook', previousState: 'approved' },
    });
    // the old round's decisions stay in history but no longer count
    const api = await request(t.baseUrl)
      .get(`/api/pages/${d.pages.releaseChecklist.id}/workflows/${d.pages.releaseChecklist.macroIds[0]}`)
      .set('Authorization', `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: d.pages.releaseChecklist.id })}`);
    expect(api.body.state).toBe('outdated');
    expect(api.body.decisions).toHaveLength(2);
    const stored = await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.releaseChecklist.id });
    expect(stored).toHaveLength(1);
    expect(stored[0].processed_at).not.toBeNull();
  });

  it('a title-only edit keeps the approval and rebinds, with an audit event that says why', async () => {
    await render(d.users.alice.accountId, 'onCall');
    expect((await approve(d.users.bob.accountId, 'onCall')).state).toBe('approved');
    const before = await workflow('onCall');
    tick();
    const edit = await d.editPage(d.pages.onCall.id, { title: 'On-call handbook (2026)', as: d.users.author.accountId });
    await settled();
    const after = await workflow('onCall');
    expect(after).toMatchObject({ state: 'approved', bound_version: edit.version, round: before.round, body_hash: before.body_hash, page_title: 'On-call handbook (2026)' });
    const rebound = (await events('workflow.rebound')).map((e: { canonical: string }) => JSON.parse(e.canonical));
    expect(rebound).toHaveLength(1);
    expect(rebound[0].data).toMatchObject({ contentChanged: false, reason: expect.stringMatching(/only the title or metadata changed/) });
  });

  it('a duplicate delivery and an older version change nothing and add no audit event', async () => {
    tick();
    const first = await d.editPage(d.pages.onCall.id, { title: 'On-call handbook (v2026.1)', as: d.users.author.accountId });
    tick();
    const second = await d.editPage(d.pages.onCall.id, { title: 'On-call handbook (v2026.2)', as: d.users.author.accountId });
    await settled();
    const state = await workflow('onCall');
    expect(state.bound_version).toBe(second.version);
    const n = (await events()).length;
    const inbox = (await t.db('page_events').where({ client_key: d.clientKey })).length;

    // the same delivery twice (Confluence may deliver twice)
    expect((await d.sendWebhook(second.webhook!.delivery)).status).toBe(204);
    // the older version, late, as a distinct delivery
    expect((await d.sendWebhook(later(first.webhook!.delivery, 5))).status).toBe(204);
    await settled();

    expect(await workflow('onCall')).toEqual(state);
    expect((await events()).length).toBe(n);
    const rows = await t.db('page_events').where({ client_key: d.clientKey }).orderBy('id');
    expect(rows).toHaveLength(inbox + 1); // the duplicate was not stored again
    expect(rows[rows.length - 1].outcome).toMatch(/no change/);
  });

  it('a missed webhook is reconciled when the macro renders the newer signed version', async () => {
    await render(d.users.bob.accountId, 'accessReview');
    await approve(d.users.secMember.accountId, 'accessReview');
    expect((await workflow('accessReview')).state).toBe('approved');
    tick();
    // Edited in the devhost without any webhook: as if Confluence lost it.
    const v = d.store.editPage(d.pages.accessReview.id, {
      body: `${d.page(d.pages.accessReview.id).body}<p>Include contractors.</p>`,
      as: d.users.author.accountId,
    });
    expect((await workflow('accessReview')).state).toBe('approved');
    const html = await render(d.users.bob.accountId, 'accessReview');
    expect(html.status).toBe(200);
    expect(await workflow('accessReview')).toMatchObject({ state: 'outdated', bound_version: v.number });
    const [ev] = (await events('workflow.outdated')).filter((e: { page_id: string }) => e.page_id === d.pages.accessReview.id);
    expect(JSON.parse(ev.canonical).data.cause).toBe('render');
  });

  it('trash archives, restore brings back the state it had, each once with one audit event', async () => {
    const before = await workflow('onCall');
    expect(before.state).toBe('approved');
    tick();
    const trashed = await d.trashPage(d.pages.onCall.id);
    await settled();
    expect(await workflow('onCall')).toMatchObject({ state: 'archived', state_before_archive: 'approved' });
    expect(await events('workflow.archived')).toHaveLength(1);
    // a late duplicate of the trash changes nothing
    await d.sendWebhook(trashed!.delivery);
    await settled();
    expect(await events('workflow.archived')).toHaveLength(1);

    tick();
    await d.restorePage(d.pages.onCall.id);
    await settled();
    expect(await workflow('onCall')).toMatchObject({ state: 'approved', state_before_archive: null });
    const restored = await events('workflow.restored');
    expect(restored).toHaveLength(1);
    expect(JSON.parse(restored[0].canonical).data).toMatchObject({ state: 'approved', cause: 'page_restored' });
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('an edit whose webhook comes while the page is in the trash is applied when the page is restored', async () => {
    const id = d.pages.onCall.id;
    const before = await workflow('onCall');
    expect(before.state).toBe('approved');
    tick();
    // The author changes the content, then trashes the page; Confluence delivers the trash before the edit.
    const edited = d.store.editPage(id, { body: `${d.page(id).body}<p>Pager rota changed.</p>`, as: d.users.author.accountId });
    const update = d.webhook('page_updated', id);
    tick();
    await d.trashPage(id);
    await settled();
    expect((await d.sendWebhook(update)).status).toBe(204);
    await settled();
    expect((await workflow('onCall')).state).toBe('archived');
    tick();
    await d.restorePage(id);
    await settled();
    // Not the approval of the content before the edit: outdated, bound to the version the page is at.
    expect(await workflow('onCall')).toMatchObject({ state: 'outdated', bound_version: edited.number, round: before.round + 1 });
    const [restore] = await t.db('page_events').where({ client_key: d.clientKey, page_id: id, event: 'page_restored' }).orderBy('id', 'desc');
    expect(restore.outcome).toMatch(new RegExp(`^restored 1 workflow\\(s\\); applied the current version ${edited.number}`));
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('orders trash and restore by the webhook timestamp, not by arrival', async () => {
    await render(d.users.alice.accountId, 'vendorRisk');
    const before = await workflow('vendorRisk');
    tick();
    const trash = d.webhook('page_trashed', d.pages.vendorRisk.id);
    tick();
    const restore = d.webhook('page_restored', d.pages.vendorRisk.id);
    const n = (await events()).length;
    await d.sendWebhook(restore); // arrives first: nothing is archived, so nothing to restore
    await settled();
    await d.sendWebhook(trash); // older than the restore already handled: stale
    await settled();
    expect((await workflow('vendorRisk')).state).toBe(before.state);
    expect((await events()).length).toBe(n);
    const rows = await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id }).orderBy('id');
    expect(rows.map((r) => r.outcome)).toEqual([expect.stringMatching(/^no change; /), expect.stringMatching(/^stale: page_restored/)]);
  });

  it('removal archives; a malformed payload is refused (400) without being stored', async () => {
    await render(d.users.alice.accountId, 'adrQueue');
    tick();
    await d.removePage(d.pages.adrQueue.id);
    await settled();
    expect(await workflow('adrQueue')).toMatchObject({ state: 'archived', state_before_archive: 'pending' });

    const n = (await t.db('page_events')).length;
    const bad = d.webhook('page_updated', d.pages.vendorRisk.id);
    const page = { ...(bad.body.page as Record<string, unknown>) };
    delete page.id;
    delete page.idAsString;
    expect((await d.sendWebhook({ ...bad, body: { ...bad.body, page } })).status).toBe(400);
    await settled();
    expect((await t.db('page_events')).length).toBe(n);
  });

  it('a delivery the inbox cannot take is answered 503 and held: stored and handled once the inbox is back, without a redelivery', async () => {
    tick();
    const v = d.store.editPage(d.pages.vendorRisk.id, { body: `${d.page(d.pages.vendorRisk.id).body}<p>Held.</p>`, as: d.users.author.accountId });
    const delivery = d.webhook('page_updated', d.pages.vendorRisk.id);
    await t.db.raw('alter table page_events rename to page_events_away');
    let res;
    try {
      res = await d.sendWebhook(delivery);
      expect(t.pageEvents.heldCount).toBe(1);
      // Still away: nothing stored, still held.
      expect(await t.pageEvents.storeHeld()).toEqual({ stored: 0, waiting: 1 });
    } finally {
      await t.db.raw('alter table page_events_away rename to page_events');
    }
    expect(res.status).toBe(503);
    // Confluence does not send it again; the process stores what it held (its timer does this every 5 s).
    expect(await t.pageEvents.storeHeld()).toEqual({ stored: 1, waiting: 0 });
    await settled();
    expect(await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id, page_version: v.number })).toHaveLength(1);
    expect((await workflow('vendorRisk')).bound_version).toBe(v.number);
    // Were it sent again after all, it is a duplicate.
    expect((await d.sendWebhook(delivery)).status).toBe(204);
    expect(await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id, page_version: v.number })).toHaveLength(1);
  });

  it('a delivery the inbox cannot take is not acknowledged (503); the same delivery is stored once the inbox is back', async () => {
    tick();
    const v = d.store.editPage(d.pages.vendorRisk.id, { body: `${d.page(d.pages.vendorRisk.id).body}<p>Inbox down.</p>`, as: d.users.author.accountId });
    const delivery = d.webhook('page_updated', d.pages.vendorRisk.id);
    // A real database failure: the inbox table is gone for the length of one delivery.
    await t.db.raw('alter table page_events rename to page_events_away');
    let res;
    try {
      res = await d.sendWebhook(delivery);
    } finally {
      await t.db.raw('alter table page_events_away rename to page_events');
    }
    expect(res.status).toBe(503);
    expect(await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id, page_version: v.number })).toHaveLength(0);
    expect((await d.sendWebhook(delivery)).status).toBe(204);
    await settled();
    expect(await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id, page_version: v.number })).toHaveLength(1);
  });

  it('a delivery whose processing failed stays in the inbox and the retry handles it', async () => {
    tick();
    const v = d.store.editPage(d.pages.vendorRisk.id, {
      body: `${d.page(d.pages.vendorRisk.id).body}<p>Renewal in May.</p>`,
      as: d.users.author.accountId,
    });
    const wf = await workflow('vendorRisk');
    const realGetPage = t.confluence.getPage.bind(t.confluence);
    const spy = jest.spyOn(t.confluence, 'getPage').mockRejectedValueOnce(new Error('Confluence answered 503'));
    await d.sendWebhook(d.webhook('page_updated', d.pages.vendorRisk.id));
    await settled();
    const [row] = await t.db('page_events').where({ client_key: d.clientKey, page_id: d.pages.vendorRisk.id, page_version: v.number });
    expect(row).toMatchObject({ processed_at: null, attempts: 1, last_error: expect.stringMatching(/503/) });
    expect((await workflow('vendorRisk')).bound_version).toBe(wf.bound_version);
    spy.mockImplementation(realGetPage);

    clock.advance(2 * 60_000);
    expect(await t.pageEvents.retryUnprocessed(d.clientKey, clock.now())).toEqual({ retried: 1, failed: 0 });
    expect((await workflow('vendorRisk')).bound_version).toBe(v.number);
    spy.mockRestore();
  });
});
