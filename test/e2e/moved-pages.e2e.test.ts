import request from 'supertest';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * A workflow follows its page (security review row 5): after a move, the new space's policy decides and
 * its admins see the workflow; the old space's admins no longer do. Through the page_moved webhook, and
 * without it (a lost delivery) at the next render or decision.
 */
describe('moved pages', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const render = (as: string, pageKey: keyof typeof d.pages) => macroRequests(t).render(as, pageKey);
  const decide = (as: string, pageKey: keyof typeof d.pages, body: object) => macroRequests(t).api(as, pageKey).decide(body);
  const dashboard = (spaceKey: string) =>
    request(t.baseUrl).get(`/api/spaces/${spaceKey}/workflows`).set('Authorization', `JWT ${d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey })}`);
  const workflowOf = (pageKey: keyof typeof d.pages) => t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages[pageKey].id }).first();
  const setSelfApproval = async (spaceKey: string, allow: boolean) => {
    const token = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey });
    const current = await request(t.baseUrl).get(`/api/spaces/${spaceKey}/settings`).set('Authorization', `JWT ${token}`);
    const res = await request(t.baseUrl).put(`/api/spaces/${spaceKey}/settings`).set('Authorization', `JWT ${token}`).send({ ...current.body.settings, allowSelfApproval: allow });
    expect(res.status).toBe(200);
  };

  it('page_moved takes the workflow to the new space: its dashboard lists it, the old one does not', async () => {
    expect((await render(d.users.alice.accountId, 'onCall')).status).toBe(200);
    const res = await d.movePage(d.pages.onCall.id, 'SEC');
    expect(res).toMatchObject({ status: 204, delivery: { event: 'page_moved', body: { page: { spaceKey: 'SEC' } } } });
    await t.pageEvents.settled();
    expect(await workflowOf('onCall')).toMatchObject({ space_key: 'SEC' });
    const moved = await t.db('audit_events').where({ client_key: d.clientKey, action: 'workflow.moved' });
    expect(moved).toHaveLength(1);
    expect(JSON.parse(moved[0].canonical)).toMatchObject({ space: 'SEC', data: { fromSpace: 'ENG', toSpace: 'SEC', cause: 'webhook' } });

    const eng = await dashboard('ENG');
    expect(eng.body.items.map((i: { pageId: string }) => i.pageId)).not.toContain(d.pages.onCall.id);
    const sec = await dashboard('SEC');
    expect(sec.body.items.map((i: { pageId: string }) => i.pageId)).toContain(d.pages.onCall.id);
    // A second delivery changes nothing.
    await d.sendWebhook(res!.delivery);
    await t.pageEvents.settled();
    expect(await t.db('audit_events').where({ client_key: d.clientKey, action: 'workflow.moved' })).toHaveLength(1);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('with the webhook lost, the new space forbids the self-approval the old space allowed', async () => {
    // ENG allows self-approval, SEC does not. Alice wrote ADR-7's version 2 and is one of its approvers.
    await setSelfApproval('ENG', true);
    expect((await render(d.users.bob.accountId, 'adrQueue')).status).toBe(200);
    const wf = await workflowOf('adrQueue');
    expect(wf).toMatchObject({ space_key: 'ENG', bound_author_id: d.users.alice.accountId });
    // The page moves to SEC and Confluence's webhook never arrives.
    d.store.movePage(d.pages.adrQueue.id, 'SEC');
    const res = await decide(d.users.alice.accountId, 'adrQueue', { decision: 'approve', comment: '', pageVersion: wf.bound_version });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/separation of duties/);
    expect(await workflowOf('adrQueue')).toMatchObject({ space_key: 'SEC' });
    const moved = await t.db('audit_events').where({ client_key: d.clientKey, action: 'workflow.moved' }).orderBy('seq', 'desc').first();
    expect(JSON.parse(moved.canonical).data).toEqual({ fromSpace: 'ENG', toSpace: 'SEC', cause: 'decision' });
  });

  it('a render signed for the new space moves the workflow too', async () => {
    expect((await render(d.users.alice.accountId, 'releaseChecklist')).status).toBe(200);
    d.store.movePage(d.pages.releaseChecklist.id, 'SEC');
    expect((await render(d.users.alice.accountId, 'releaseChecklist')).status).toBe(200);
    expect(await workflowOf('releaseChecklist')).toMatchObject({ space_key: 'SEC' });
  });
});
