import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { COL } from '../../src/evidence/evidence-csv';
import { verifyEvidenceCsv } from '../../src/evidence/evidence-verifier';
import { ManualClock } from '../../src/lib/clock';
import { startTestApp, TestApp } from '../helpers/test-app';

const DAY = 86_400_000;

/**
 * Delegation (issue 16) through the whole stack: Out of office set, changed and ended in My approvals; a delegate
 * deciding on behalf (counted for the delegator, audited with both refs); separation of duties for both people;
 * no passing on; the end date; a space that forbids it; reminders; the export; erasure; another site.
 */
describe('delegation end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  const clock = new ManualClock('2026-03-02T09:00:00.000Z');
  const today = () => clock.now().toISOString().slice(0, 10);
  const inDays = (n: number) => new Date(clock.now().getTime() + n * DAY).toISOString().slice(0, 10);

  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
    for (const key of ['releaseChecklist', 'adrQueue', 'onCall', 'securityUpdate'] as const) {
      const res = await request(t.baseUrl).get(path(d.macroUrl(d.users.author.accountId, d.pages[key].id, d.pages[key].macroIds[0])));
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => t?.close());

  type PageKey = keyof typeof d.pages;
  const path = (url: string) => url.slice(t.baseUrl.length);
  const auth = (as: string, clientKey?: string) => `JWT ${d.contextJwt(as, {}, clientKey ? { clientKey } : undefined)}`;
  const alice = () => d.users.alice.accountId;
  const bob = () => d.users.bob.accountId;
  const sec = () => d.users.secMember.accountId;

  const setDelegation = (as: string, body: unknown, clientKey?: string) =>
    request(t.baseUrl).put('/api/me/delegation').set('Authorization', auth(as, clientKey)).send(body as object);
  const getDelegation = (as: string, clientKey?: string) => request(t.baseUrl).get('/api/me/delegation').set('Authorization', auth(as, clientKey));
  const endDelegation = (as: string) => request(t.baseUrl).delete('/api/me/delegation').set('Authorization', auth(as));
  const workflowOf = async (as: string, key: PageKey) => {
    const page = d.pages[key];
    const res = await request(t.baseUrl).get(`/api/pages/${page.id}/workflows/${page.macroIds[0]}`).set('Authorization', `JWT ${d.contextJwt(as, { pageId: page.id })}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const decide = async (as: string, key: PageKey, body: Record<string, unknown>, idempotencyKey?: string) => {
    const page = d.pages[key];
    const wf = await workflowOf(as, key);
    const req = request(t.baseUrl)
      .post(`/api/pages/${page.id}/workflows/${page.macroIds[0]}/decisions`)
      .set('Authorization', `JWT ${d.contextJwt(as, { pageId: page.id })}`);
    if (idempotencyKey) req.set('Idempotency-Key', idempotencyKey);
    return req.send({ comment: '', pageVersion: wf.boundVersion, ...body });
  };
  const mine = async (as: string) => {
    const res = await request(t.baseUrl).get('/api/me/approvals').set('Authorization', auth(as));
    expect(res.status).toBe(200);
    return res.body.items as Array<{ pageTitle: string; pageId: string; onBehalfOf: { accountId: string; displayName: string; endsOn: string } | null }>;
  };
  const events = async (action: string) =>
    (await t.db('audit_events').where({ client_key: d.clientKey, action }).orderBy('seq')).map((e) => JSON.parse(e.canonical));
  const refOf = async (accountId: string) => (await t.db('audit_subjects').where({ client_key: d.clientKey, account_id: accountId }).first())?.ref as string;
  const eventCount = async () => Number((await t.db('audit_events').where({ client_key: d.clientKey }).count<{ n: string }[]>('* as n'))[0].n);

  it('refuses bad Out of office input with a plain 400, and ending nothing with a 404', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ delegate: alice(), from: today(), to: '2026-02-30' }, /Last day is not a day of the calendar/],
      [{ delegate: alice(), from: inDays(3), to: inDays(1) }, /must not be before the first day/],
      [{ delegate: alice(), from: '2026-01-01', to: '2026-01-05' }, /has passed/],
      [{ delegate: bob(), from: today(), to: inDays(1) }, /cannot delegate to yourself/],
      [{ delegate: 'no-such-person', from: today(), to: inDays(1) }, /not a person on this site/],
      [{ delegate: alice(), from: today(), to: inDays(400) }, /at most 366 days/],
      [{ delegate: '<script>', from: today(), to: inDays(1) }, /Delegate must be an Atlassian account ID/],
      [{ delegate: alice(), from: today(), to: inDays(1), extra: 1 }, /extra/],
    ];
    for (const [body, message] of cases) {
      const res = await setDelegation(bob(), body);
      expect([res.status, res.body.error?.message]).toEqual([400, expect.stringMatching(message)]);
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    }
    expect((await endDelegation(bob())).status).toBe(404);
    expect(await t.db('delegations')).toHaveLength(0);
  });

  it('sets, changes and ends a delegation, each an audit event naming both people as refs; another site sees none of it', async () => {
    const before = await eventCount();
    const set = await setDelegation(bob(), { delegate: sec(), from: today(), to: inDays(5) });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ changed: true, mine: { delegate: { accountId: sec(), displayName: 'Sec Member' }, from: today(), to: inDays(5), active: true } });
    // the same again changes nothing and records nothing
    expect((await setDelegation(bob(), { delegate: sec(), from: today(), to: inDays(5) })).body.changed).toBe(false);
    const changed = await setDelegation(bob(), { delegate: alice(), from: today(), to: inDays(1) });
    expect(changed.body.mine).toMatchObject({ delegate: { accountId: alice(), displayName: 'Alice Approver' }, to: inDays(1) });
    expect((await getDelegation(alice())).body.standingInFor).toEqual([expect.objectContaining({ delegator: { accountId: bob(), displayName: 'Bob Approver' }, from: today(), to: inDays(1) })]);

    const [setEvent] = await events('delegation.set');
    const [changedEvent] = await events('delegation.changed');
    const [bobRef, aliceRef, secRef] = [await refOf(bob()), await refOf(alice()), await refOf(sec())];
    expect(setEvent).toMatchObject({ actor: { type: 'user', ref: bobRef }, space: null, data: { delegator: bobRef, delegate: secRef, startsOn: today(), endsOn: inDays(5) } });
    expect(changedEvent.data).toMatchObject({ delegationId: setEvent.data.delegationId, delegator: bobRef, delegate: aliceRef, endsOn: inDays(1), before: { delegate: secRef, endsOn: inDays(5) } });
    for (const e of [setEvent, changedEvent]) for (const id of [bob(), alice(), sec()]) expect(JSON.stringify(e)).not.toContain(id);
    expect((await eventCount()) - before).toBe(2);

    // Another installation: Bob there has no delegation, and Alice there stands in for nobody.
    const other = await d.installTenant({ clientKey: 'delegation-other-site' });
    expect((await getDelegation(bob(), other.clientKey)).body).toEqual({ mine: null, standingInFor: [] });
    expect((await getDelegation(alice(), other.clientKey)).body).toEqual({ mine: null, standingInFor: [] });

    // End and set again (for the tests below): an ended delegation is an event too.
    expect((await endDelegation(bob())).status).toBe(200);
    expect((await getDelegation(bob())).body.mine).toBeNull();
    const [ended] = await events('delegation.ended');
    expect(ended.data).toMatchObject({ delegationId: setEvent.data.delegationId, delegator: bobRef, delegate: aliceRef, endedOn: today() });
    expect((await setDelegation(bob(), { delegate: alice(), from: today(), to: inDays(1) })).status).toBe(200);
  });

  it('lets the delegate approve on behalf: it counts for the delegator under the rule, and the event names both and the delegation', async () => {
    // My approvals: Alice sees her own item and Bob's, marked
    const items = await mine(alice());
    const release = items.filter((i) => i.pageId === d.pages.releaseChecklist.id);
    expect(release.map((i) => i.onBehalfOf?.displayName ?? null).sort()).toEqual([null, 'Bob Approver'].sort());
    // Bob's blog post in SEC waits on him alone: Alice sees it on his behalf
    expect(items.find((i) => i.pageId === d.pages.securityUpdate.id)?.onBehalfOf).toMatchObject({ accountId: bob(), endsOn: inDays(1) });
    const html = await request(t.baseUrl).get(path(d.myApprovalsUrl(alice())));
    expect(html.text).toContain('on behalf of Bob Approver');
    expect(html.text).toContain('You stand in for <strong>Bob Approver</strong>');

    // The macro offers Alice the choice, and the workflow API says for whom
    const view = await workflowOf(alice(), 'releaseChecklist');
    expect(view.viewer).toMatchObject({ canDecide: true, onBehalfOf: [{ accountId: bob(), displayName: 'Bob Approver', canDecide: true, until: inDays(1) }] });
    const macro = await request(t.baseUrl).get(path(d.macroUrl(alice(), d.pages.releaseChecklist.id, d.pages.releaseChecklist.macroIds[0])));
    expect(macro.text).toContain('data-testid="on-behalf-select"');
    expect(macro.text).toContain('Bob Approver — on behalf, out of office through');

    expect((await decide(alice(), 'releaseChecklist', { decision: 'approve' })).status).toBe(201);
    const res = await decide(alice(), 'releaseChecklist', { decision: 'approve', comment: 'for Bob, who is away', onBehalfOf: bob() }, 'key-behalf-1');
    expect(res.status).toBe(201);
    // rule "all" of Alice and Bob: Bob's approval came through Alice, so the workflow is approved
    expect(res.body.state).toBe('approved');
    expect(res.body.approvers.find((a: { accountId: string }) => a.accountId === bob())).toMatchObject({ decision: 'approve', decidedBy: { accountId: alice(), displayName: 'Alice Approver' } });
    // a retry of the same request by the delegate is the same decision
    const again = await decide(alice(), 'releaseChecklist', { decision: 'approve', comment: 'for Bob, who is away', onBehalfOf: bob() }, 'key-behalf-1');
    expect([again.status, again.headers['idempotent-replayed']]).toEqual([201, 'true']);

    const rows = await t.db('decisions').where({ client_key: d.clientKey }).orderBy('id');
    const behalf = rows.filter((r) => r.delegate_id);
    expect(behalf).toHaveLength(1);
    expect(behalf[0]).toMatchObject({ approver_id: bob(), delegate_id: alice() });
    const approved = (await events('decision.approved')).filter((e) => e.data.onBehalfOf);
    expect(approved).toHaveLength(1);
    expect(approved[0]).toMatchObject({
      actor: { type: 'user', ref: await refOf(alice()) },
      data: { onBehalfOf: await refOf(bob()), delegationId: behalf[0].delegation_id, comment: 'for Bob, who is away' },
    });
    expect((await events('workflow.approved')).length).toBe(1);

    // The macro shows who decided for whom
    const after = await request(t.baseUrl).get(path(d.macroUrl(d.users.author.accountId, d.pages.releaseChecklist.id, d.pages.releaseChecklist.macroIds[0])));
    expect(after.text).toContain('by Alice Approver on behalf of Bob Approver');
  });

  it('refuses the page author as delegate, a delegate deciding for the author, and a delegation passed on', async () => {
    const before = await eventCount();
    // ADR-7 version 2 was written by Alice: she may not approve it, not even on Bob's behalf
    const asAuthor = await decide(alice(), 'adrQueue', { decision: 'approve', onBehalfOf: bob() });
    expect([asAuthor.status, asAuthor.body.error?.message]).toEqual([403, expect.stringMatching(/you wrote that version, so you cannot approve it on anyone's behalf/)]);
    expect((await workflowOf(alice(), 'adrQueue')).viewer.onBehalfOf).toEqual([
      expect.objectContaining({ accountId: bob(), canDecide: false, reason: expect.stringMatching(/you wrote that version/) }),
    ]);
    expect((await mine(alice())).some((i) => i.pageId === d.pages.adrQueue.id)).toBe(false);

    // Alice names Sec Member while she is Bob's delegate: Sec decides for Alice, never for Bob (no passing on)…
    expect((await setDelegation(alice(), { delegate: sec(), from: today(), to: inDays(1) })).status).toBe(200);
    const passedOn = await decide(sec(), 'onCall', { decision: 'approve', onBehalfOf: bob() });
    expect([passedOn.status, passedOn.body.error?.message]).toEqual([403, expect.stringMatching(/no active delegation from this person.*cannot be passed on/)]);
    expect((await mine(sec())).some((i) => i.onBehalfOf?.accountId === bob())).toBe(false);
    // …and not for Alice where Alice wrote the version (the author cannot approve through a delegate)
    const forAuthor = await decide(sec(), 'adrQueue', { decision: 'approve', onBehalfOf: alice() });
    expect([forAuthor.status, forAuthor.body.error?.message]).toEqual([403, expect.stringMatching(/The person you stand in for wrote version 2/)]);
    // someone with no delegation at all
    expect((await decide(d.users.nora.accountId, 'onCall', { decision: 'approve', onBehalfOf: bob() })).status).toBe(403);
    expect((await decide(alice(), 'onCall', { decision: 'approve', onBehalfOf: 'not an id!' })).status).toBe(400);
    // none of it wrote anything but Alice's delegation
    expect((await eventCount()) - before).toBe(1);
    expect((await endDelegation(alice())).status).toBe(200);
  });

  it('sends reminders to the delegate while the delegation is active, mentioning the delegator', async () => {
    const tick = new Date(clock.now().getTime() + 60_000);
    expect(await t.scheduler.runDue('reminders', tick)).toMatchObject({ ran: true });
    const [comment] = d.comments(d.pages.onCall.id).filter((c) => c.body.includes('Approval reminder'));
    expect(comment.body).toContain(`ri:account-id="${alice()}"`);
    expect(comment.body).toContain('on behalf of Bob Approver, who is out of office');
    expect(comment.body).not.toContain(bob());
    const row = await t.db('reminders').where({ client_key: d.clientKey, workflow_id: (await workflowOf(alice(), 'onCall')).id }).first();
    // who was notified: Alice, once (for herself and for Bob)
    expect(row.account_ids).toEqual([alice()]);
  });

  it('ends a delegation at its end date without anyone acting', async () => {
    const rowsBefore = await t.db('delegations').where({ client_key: d.clientKey });
    clock.advance(2 * DAY);
    expect((await getDelegation(bob())).body.mine).toBeNull();
    expect((await getDelegation(alice())).body.standingInFor).toEqual([]);
    expect((await mine(alice())).filter((i) => i.onBehalfOf)).toEqual([]);
    expect((await workflowOf(alice(), 'onCall')).viewer.onBehalfOf).toEqual([]);
    const late = await decide(alice(), 'onCall', { decision: 'approve', onBehalfOf: bob() });
    expect([late.status, late.body.error?.message]).toEqual([403, expect.stringMatching(/no active delegation/)]);
    // nothing was written for it to lapse
    expect(await t.db('delegations').where({ client_key: d.clientKey })).toEqual(rowsBefore);
    // reminders mention Bob himself again
    expect(await t.scheduler.runDue('reminders', new Date(clock.now().getTime() + 8 * DAY))).toMatchObject({ ran: true });
    const latest = d.comments(d.pages.onCall.id).filter((c) => c.body.includes('Approval reminder')).at(-1)!;
    expect(latest.body).toContain(`ri:account-id="${bob()}"`);
    expect(latest.body).not.toContain('on behalf of');
    clock.advance(8 * DAY);
  });

  it('obeys a space that forbids delegation: no decisions on behalf there, nothing listed, the setting audited', async () => {
    expect((await setDelegation(bob(), { delegate: alice(), from: today(), to: inDays(3) })).body.mine).toMatchObject({ active: true });
    const admin = d.users.spaceAdmin.accountId;
    const current = await request(t.baseUrl).get('/api/spaces/SEC/settings').set('Authorization', auth(admin));
    expect(current.body.settings.allowDelegation).toBe(true);
    const put = await request(t.baseUrl).put('/api/spaces/SEC/settings').set('Authorization', auth(admin)).send({ ...current.body.settings, allowDelegation: false });
    expect(put.status).toBe(200);
    expect((await request(t.baseUrl).put('/api/spaces/SEC/settings').set('Authorization', auth(admin)).send({ ...current.body.settings, allowDelegation: 'no' })).status).toBe(400);
    const [changed] = (await events('settings.changed')).filter((e) => e.space === 'SEC');
    expect(changed.data).toMatchObject({ before: { allowDelegation: true }, after: { allowDelegation: false }, changed: ['allowDelegation'] });

    const refused = await decide(alice(), 'securityUpdate', { decision: 'approve', onBehalfOf: bob() });
    expect([refused.status, refused.body.error?.message]).toEqual([403, 'This space does not allow delegation: only the approvers themselves decide here.']);
    const items = await mine(alice());
    expect(items.some((i) => i.pageId === d.pages.securityUpdate.id)).toBe(false);
    // ENG still allows it
    expect(items.some((i) => i.pageId === d.pages.onCall.id && i.onBehalfOf?.accountId === bob())).toBe(true);
    const ok = await decide(alice(), 'onCall', { decision: 'approve', onBehalfOf: bob() });
    expect([ok.status, ok.body.state]).toEqual([201, 'approved']);
  });

  it('exports the new actions in a CSV the verifier accepts and an independent chain check agrees with', async () => {
    const res = await request(t.baseUrl).get('/api/evidence.csv').set('Authorization', auth(d.users.siteAdmin.accountId)).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    const verdict = await verifyEvidenceCsv(Readable.from([res.body as Buffer]), {});
    expect(verdict).toMatchObject({ ok: true });
    const rows: string[][] = parse(res.body as Buffer, { bom: true }).slice(1);
    const actions = new Set(rows.map((r) => r[COL.action]));
    for (const a of ['delegation.set', 'delegation.changed', 'delegation.ended', 'decision.approved', 'settings.changed']) expect(actions).toContain(a);
    expect(rows.some((r) => r[COL.action] === 'decision.approved' && JSON.parse(r[COL.canonical]).data.onBehalfOf)).toBe(true);
    // Independently of src/: SHA-256 over 0x00‖canonical and 0x01‖prev‖leaf, from the genesis of the tenant.
    const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
    let prev = sha(Buffer.from(`attest-audit-v1\n${d.clientKey}`, 'utf8'));
    for (const r of rows) {
      const leaf = sha(Buffer.from([0]), Buffer.from(r[COL.canonical], 'utf8'));
      expect(r[COL.leaf_hash]).toBe(leaf.toString('hex'));
      expect(r[COL.prev_chain_hash]).toBe(prev.toString('hex'));
      prev = sha(Buffer.from([1]), prev, leaf);
      expect(r[COL.chain_hash]).toBe(prev.toString('hex'));
    }
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });

  it('erases a closed account from delegations and delegated decisions; the chain still verifies', async () => {
    expect(await t.db('delegations').where({ client_key: d.clientKey, delegator_id: bob() })).not.toHaveLength(0);
    expect(await t.privacy.erase(d.clientKey, alice())).toBe(true);
    const { rows: tables } = await t.db.raw(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
    for (const { table_name: table } of tables as Array<{ table_name: string }>) {
      const { rows } = await t.db.raw(`select count(*)::int as n from ${table} t where strpos(t::text, ?) > 0`, [alice()]);
      expect([table, rows[0].n]).toEqual([table, 0]);
    }
    expect(await t.db('delegations').where({ client_key: d.clientKey, delegator_id: bob() })).toHaveLength(0);
    expect((await t.db('decisions').where({ client_key: d.clientKey }).whereNotNull('delegate_id')).every((r) => r.delegate_id.startsWith('erased:'))).toBe(true);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });
});
