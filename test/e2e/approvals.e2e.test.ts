import { createHash } from 'node:crypto';
import request from 'supertest';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/** The macro and the decision API through the whole stack: devhost JWTs, REST permission checks, Postgres. */
describe('approvals end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const path = (url: string) => url.slice(t.baseUrl.length);
  const render: ReturnType<typeof macroRequests>['render'] = (...args) => macroRequests(t).render(...args);
  const api: ReturnType<typeof macroRequests>['api'] = (...args) => macroRequests(t).api(...args);
  const events = (action?: string) =>
    t.db('audit_events').where({ client_key: d.clientKey }).modify((q) => (action ? q.where({ action }) : q)).orderBy('seq');

  it('renders the macro, creating the workflow bound to the signed version with its body hash', async () => {
    const res = await render(d.users.alice.accountId, 'releaseChecklist');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Pending');
    expect(res.text).toContain('Alice Approver');
    const wf = await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages.releaseChecklist.id }).first();
    const page = d.page(d.pages.releaseChecklist.id);
    expect(wf).toMatchObject({ state: 'pending', rule: 'all', bound_version: page.version });
    expect(wf.body_hash).toBe(createHash('sha256').update(page.body, 'utf8').digest('hex'));
    expect((await events('workflow.created')).length).toBe(1);
    // rendering again changes nothing
    await render(d.users.bob.accountId, 'releaseChecklist');
    expect((await events('workflow.created')).length).toBe(1);
  });

  it('moves the state by the rule as approvers approve, and records each step in the chain', async () => {
    const alice = api(d.users.alice.accountId, 'releaseChecklist');
    const before = (await alice.get()).body;
    expect(before).toMatchObject({ state: 'pending', rule: 'all', viewer: { canDecide: true } });
    const r1 = await alice.decide({ decision: 'approve', comment: 'ok', pageVersion: before.boundVersion });
    expect(r1.status).toBe(201);
    expect(r1.body.state).toBe('pending');
    expect(r1.body.waitingOn.users).toEqual([d.users.bob.accountId]);
    const r2 = await api(d.users.bob.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: '', pageVersion: before.boundVersion });
    expect(r2.status).toBe(201);
    expect(r2.body.state).toBe('approved');
    expect(r2.body.decisions.map((x: { decision: string }) => x.decision)).toEqual(['approve', 'approve']);
    expect((await events('workflow.approved')).length).toBe(1);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
    // closed: no more decisions
    const r3 = await alice.decide({ decision: 'reject', comment: 'changed my mind', pageVersion: before.boundVersion });
    expect(r3.status).toBe(409);
    expect(r3.body.error.message).toMatch(/approved/);
    // the macro says since when, and what reopens it; nobody is left waiting
    const html = (await render(d.users.alice.accountId, 'releaseChecklist')).text;
    expect(html).toMatch(/data-testid="closed">Approved by Alice Approver and Bob Approver since <time datetime="\d{4}-\d{2}-\d{2}T[^"]+" title="\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC" data-attest-time>/);
    expect(html).toContain('Changing the page content starts a new round of approvals.');
    expect(html).not.toContain('Waiting');
  });

  it('lets an approver change their mind while open; every change is an audit event', async () => {
    await render(d.users.bob.accountId, 'vendorRisk', 0);
    const bob = api(d.users.bob.accountId, 'vendorRisk', 0);
    const v = (await bob.get()).body.boundVersion;
    expect((await bob.decide({ decision: 'approve', comment: '', pageVersion: v })).body.state).toBe('pending');
    const n = (await events()).length;
    expect((await bob.decide({ decision: 'approve', comment: 'still fine', pageVersion: v })).status).toBe(201);
    expect((await events()).length).toBe(n + 1);
    // group member completes "all": bob + one member of security
    const sec = await api(d.users.secMember.accountId, 'vendorRisk', 0).decide({ decision: 'approve', comment: 'security ok', pageVersion: v });
    expect(sec.status).toBe(201);
    expect(sec.body.state).toBe('approved');
    expect(sec.body.groups).toEqual([{ name: 'security', approvedBy: [d.users.secMember.accountId] }]);
    // the group member's approval is told once, on the group's line, with its comment
    const html = (await render(d.users.bob.accountId, 'vendorRisk', 0)).text;
    expect(html).toContain('Group <strong>security</strong>: approved by Sec Member (<span class="attest-comment">security ok</span>)');
    expect(html.match(/Sec Member/g)).toHaveLength(2); // the group line and the closed line ("Approved by Bob Approver and Sec Member since")
    expect(html).not.toContain('<strong>Sec Member</strong> approved');
  });

  it('refuses the author of the bound version with the reason (separation of duties)', async () => {
    await render(d.users.bob.accountId, 'adrQueue');
    const alice = api(d.users.alice.accountId, 'adrQueue');
    const wf = (await alice.get()).body;
    expect(wf.viewer).toMatchObject({ canDecide: false });
    const res = await alice.decide({ decision: 'approve', comment: '', pageVersion: wf.boundVersion });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/separation of duties/);
    const html = (await render(d.users.alice.accountId, 'adrQueue')).text;
    expect(html).not.toContain('<form class="attest-decide"');
    expect(html).toContain('data-testid="reason">Someone other than the author of version 2 must approve: you wrote that version (separation of duties).');
  });

  it('binds an approval to the version the approver reads: an older version is read-only, and the API refuses it', async () => {
    const page = d.pages.adrQueue;
    await render(d.users.bob.accountId, 'adrQueue');
    const edited = await d.editPage(page.id, { body: `${d.page(page.id).body}<p>Exactly-once delivery.</p>`, as: d.users.bob.accountId });
    expect(edited.version).toBe(3);
    await t.pageEvents.settled();
    // nobody had decided yet: nothing to lose, so the workflow follows the page and stays pending
    expect(await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first()).toMatchObject({ bound_version: 3, state: 'pending' });
    const [rebound] = (await events('workflow.rebound')).filter((e: { page_id: string }) => e.page_id === page.id);
    expect(JSON.parse(rebound.canonical).data).toMatchObject({ contentChanged: true, reason: 'nobody had decided in this round yet: the workflow follows the new version' });
    const old = await request(t.baseUrl).get(path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0], { version: 2 })));
    expect(old.status).toBe(200);
    expect(old.text).toContain('You are viewing version 2; approvals are for version 3 — open the current version');
    expect(old.text).not.toContain('<form class="attest-decide"');
    expect(old.text).not.toContain('<button');

    const approvals = async () => t.db('decisions').where({ client_key: d.clientKey });
    const base = `/api/pages/${page.id}/workflows/${page.macroIds[0]}`;
    const decideAs = (contextVersion: number, pageVersion: number) =>
      request(t.baseUrl)
        .post(`${base}/decisions`)
        .set('Authorization', `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: page.id, version: contextVersion })}`)
        .send({ decision: 'approve', comment: 'approved while reading v2', pageVersion });
    const before = (await approvals()).length;
    for (const [ctx, body] of [[2, 3], [2, 2], [3, 2]]) {
      const res = await decideAs(ctx, body);
      expect(res.status).toBe(409);
      expect(res.body.error.message).toMatch(/version 3/);
    }
    expect((await approvals()).length).toBe(before);
    // what an old tab's GET shows: nothing to decide, and why
    const seen = await request(t.baseUrl).get(base).set('Authorization', `JWT ${d.contextJwt(d.users.alice.accountId, { pageId: page.id, version: 2 })}`);
    expect(seen.body.viewer).toMatchObject({ canDecide: false, reason: expect.stringMatching(/You are viewing version 2; approvals are for version 3/) });

    const current = await request(t.baseUrl).get(path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0])));
    expect(current.text).toContain('<form class="attest-decide" data-page-version="3"');
    const ok = await decideAs(3, 3);
    expect(ok.status).toBe(201);
    const wf = await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first();
    const mine = await t.db('decisions').where({ client_key: d.clientKey, workflow_id: wf.id, approver_id: d.users.alice.accountId });
    expect(mine.map((x) => x.page_version)).toEqual([3]);
  });

  it('refuses someone who is not an approver (403) and shows them nothing to click', async () => {
    const res = await api(d.users.nora.accountId, 'releaseChecklist').decide({ decision: 'approve', comment: '', pageVersion: 3 });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/not an approver/);
    const html = (await render(d.users.nora.accountId, 'onCall')).text;
    expect(html).toContain('Pending');
    expect(html).not.toContain('<button');
    expect(html).toContain('data-testid="reason">You are not an approver of this page; approvers: Alice Approver and Bob Approver.');
  });

  it('shows a user who cannot read the page nothing about the workflow', async () => {
    await render(d.users.alice.accountId, 'postmortem');
    const page = await render(d.users.nora.accountId, 'postmortem');
    expect(page.status).toBe(403);
    expect(page.text).toContain('You do not have permission to view this page.');
    expect(page.text).not.toMatch(/Alice|Pending|approv/i);
    const res = await api(d.users.nora.accountId, 'postmortem').get();
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toMatch(/Alice|pending|boundVersion/i);
    const dec = await api(d.users.nora.accountId, 'postmortem').decide({ decision: 'approve', comment: '', pageVersion: 2 });
    expect(dec.status).toBe(403);
  });

  it("refuses a context JWT of one tenant against another tenant's page", async () => {
    const other = await d.installTenant({ clientKey: 'second-site' });
    await render(d.users.alice.accountId, 'onCall');
    const res = await api(d.users.alice.accountId, 'onCall', 0, other.clientKey).get();
    expect([403, 404]).toContain(res.status);
    expect(res.body.id).toBeUndefined();
    const dec = await api(d.users.alice.accountId, 'onCall', 0, other.clientKey).decide({ decision: 'approve', comment: '', pageVersion: 2 });
    expect([403, 404]).toContain(dec.status);
    expect(await t.db('decisions').where({ client_key: other.clientKey })).toHaveLength(0);
  });

  it('answers 409 "the page changed — reload" for a stale pageVersion', async () => {
    await render(d.users.alice.accountId, 'accessReview');
    const sec = api(d.users.secMember.accountId, 'accessReview');
    const wf = (await sec.get()).body;
    const res = await sec.decide({ decision: 'approve', comment: '', pageVersion: wf.boundVersion - 1 });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/^The page changed — reload/);
  });

  it('validates decisions: rejection needs a comment, comment ≤ 4000, known fields only', async () => {
    const bob = api(d.users.bob.accountId, 'onCall');
    const v = (await bob.get()).body.boundVersion;
    const cases: Array<[object, RegExp]> = [
      [{ decision: 'reject', comment: '  ', pageVersion: v }, /rejection needs a comment/],
      [{ decision: 'approve', comment: 'x'.repeat(4001), pageVersion: v }, /at most 4000/],
      [{ decision: 'maybe', comment: '', pageVersion: v }, /decision must be/],
      [{ decision: 'approve', pageVersion: 'two' }, /pageVersion/],
      [{ decision: 'approve', comment: '', pageVersion: v, extra: 1 }, /extra/],
    ];
    for (const [body, message] of cases) {
      const res = await bob.decide(body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    const bad = await request(t.baseUrl)
      .post(`/api/pages/${d.pages.onCall.id}/workflows/${d.pages.onCall.macroIds[0]}/decisions`)
      .set('Authorization', `JWT ${d.contextJwt(d.users.bob.accountId)}`)
      .set('Content-Type', 'application/json')
      .send('{not json');
    expect(bad.status).toBe(400);
  });

  it('shows <script> in a comment as text', async () => {
    const bob = api(d.users.bob.accountId, 'onCall');
    const v = (await bob.get()).body.boundVersion;
    const res = await bob.decide({ decision: 'reject', comment: '<script>alert(1)</script>', pageVersion: v });
    expect(res.status).toBe(201);
    const html = (await render(d.users.alice.accountId, 'onCall')).text;
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert(1)</script>');
  });

  it('requires a JWT on the API (401) and a real page id (400)', async () => {
    expect((await request(t.baseUrl).get(`/api/pages/${d.pages.onCall.id}/workflows/x`)).status).toBe(401);
    const res = await request(t.baseUrl).get('/api/pages/abc/workflows/x').set('Authorization', `JWT ${d.contextJwt(d.users.bob.accountId)}`);
    expect(res.status).toBe(400);
  });

  it('does not let an older version in page history reconfigure the workflow', async () => {
    const page = d.pages.onCall;
    const now = await request(t.baseUrl).get(path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0])));
    expect(now.status).toBe(200);
    const before = await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first();
    expect(before.due_date).toBe('2026-12-31');
    const configured = (await events('workflow.configured')).length;
    // version 1 of the page had the macro without a due date
    const old = await request(t.baseUrl).get(path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0], { version: 1 })));
    expect(old.status).toBe(200);
    const after = await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first();
    expect(after.due_date).toBe('2026-12-31');
    expect(after.bound_version).toBe(before.bound_version);
    expect((await events('workflow.configured')).length).toBe(configured);
  });

  it('takes a macro title of at most 100 characters on one line, and audits a change of it', async () => {
    const page = d.pages.postmortem;
    const params = d.page(page.id).macros[0].params;
    const renderAs = () => request(t.baseUrl).get(path(d.macroUrl(d.users.alice.accountId, page.id, page.macroIds[0])));
    for (const [title, message] of [
      ['x'.repeat(101), 'Title must be at most 100 characters'],
      ['Line one\nline two', 'Title must not contain control characters'],
    ]) {
      await d.saveMacro(page.id, page.macroIds[0], { ...params, title }, d.users.author.accountId);
      const res = await renderAs();
      expect(res.status).toBe(400);
      expect(res.text).toContain(message);
    }
    await d.saveMacro(page.id, page.macroIds[0], { ...params, title: '  Root-cause review  ' }, d.users.author.accountId);
    const ok = await renderAs();
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('data-testid="title">Root-cause review</h2>');
    expect((await t.db('workflows').where({ client_key: d.clientKey, page_id: page.id }).first()).title).toBe('Root-cause review');
    const configured = (await events('workflow.configured')).filter((e: { page_id: string }) => e.page_id === page.id);
    expect(JSON.parse(configured[configured.length - 1].canonical).data.after.title).toBe('Root-cause review');
  });

  it("tells a group member when their group has already approved: their approval is not needed", async () => {
    const page = d.pages.accessReview;
    // Ada (a space admin, listed nowhere) sets it up: Bob in person and one member of engineering
    await d.saveMacro(page.id, page.macroIds[0], { approvers: d.users.bob.accountId, groups: 'engineering', rule: 'all' }, d.users.spaceAdmin.accountId);
    await t.pageEvents.settled();
    await render(d.users.bob.accountId, 'accessReview');
    const alice = api(d.users.alice.accountId, 'accessReview');
    const res = await alice.decide({ decision: 'approve', comment: '', pageVersion: (await alice.get()).body.boundVersion });
    expect(res.status).toBe(201);
    expect(res.body.state).toBe('pending');
    // Paul is in engineering too, and listed nowhere in person
    const paul = (await render(d.users.author.accountId, 'accessReview')).text;
    expect(paul).toContain('data-testid="reason">Your group engineering already approved (Alice Approver): your approval is not needed for it, though a rejection would still count.');
    expect(paul).toContain('<form class="attest-decide"');
    // Bob is listed in person: no such line for him
    expect((await render(d.users.bob.accountId, 'accessReview')).text).not.toContain('data-testid="reason"');
  });

  it('keeps the whole chain verifiable', async () => {
    const result = await t.audit.verify(t.db, d.clientKey);
    expect(result.ok).toBe(true);
  });
});
