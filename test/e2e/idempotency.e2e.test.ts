import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * Idempotency-Key on the decision API: a client whose answer was lost (a database restart, a dropped
 * connection) sends the same request with the same key again and gets the recorded decision back, once.
 */
describe('decisions with an Idempotency-Key', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    await macroRequests(t).render(d.users.alice.accountId, 'onCall');
    await macroRequests(t).render(d.users.alice.accountId, 'releaseChecklist');
  });
  afterAll(() => t?.close());

  /** POST a decision as `as` on the page's first macro, with `key` as its Idempotency-Key (unless undefined). */
  const decide = (as: string, pageKey: 'onCall' | 'releaseChecklist', body: object, key?: string) => {
    const page = d.pages[pageKey];
    const token = d.contextJwt(as, { pageId: page.id });
    const req = request(t.baseUrl).post(`/api/pages/${page.id}/workflows/${page.macroIds[0]}/decisions`).set('Authorization', `JWT ${token}`);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body);
  };
  const workflowOf = (pageKey: 'onCall' | 'releaseChecklist') => t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages[pageKey].id }).first();
  const decisionsOf = async (pageKey: 'onCall' | 'releaseChecklist') =>
    t.db('decisions').where({ client_key: d.clientKey, workflow_id: (await workflowOf(pageKey)).id }).orderBy('id');
  const approvedEvents = async (pageKey: 'onCall' | 'releaseChecklist') =>
    t.db('audit_events').where({ client_key: d.clientKey, workflow_id: (await workflowOf(pageKey)).id, action: 'decision.approved' });

  it('answers a repeat with the first answer (201, same shape), even after that decision settled the workflow', async () => {
    const v = (await workflowOf('onCall')).bound_version;
    const key = randomUUID();
    const body = { decision: 'approve', comment: 'on call is fine', pageVersion: v };
    const first = await decide(d.users.alice.accountId, 'onCall', body, key);
    expect(first.status).toBe(201);
    expect(first.body.state).toBe('approved');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // Without a key this would be 409 (the workflow takes no more decisions); with the same key it is the same answer.
    const again = await decide(d.users.alice.accountId, 'onCall', body, key);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(Object.keys(again.body).sort()).toEqual(Object.keys(first.body).sort());
    expect(again.body).toMatchObject({ id: first.body.id, state: 'approved', decisions: first.body.decisions });
    expect(await decisionsOf('onCall')).toHaveLength(1);
    expect(await approvedEvents('onCall')).toHaveLength(1);
    expect((await decide(d.users.alice.accountId, 'onCall', body, randomUUID())).status).toBe(409);
  });

  it('refuses the same key with another decision, comment or person (409, plain message), recording nothing', async () => {
    const key = randomUUID();
    expect((await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'first', pageVersion: (await workflowOf('releaseChecklist')).bound_version }, key)).status).toBe(201);
    const before = await decisionsOf('releaseChecklist');
    const other = await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'second', pageVersion: (await workflowOf('releaseChecklist')).bound_version }, key);
    expect(other.status).toBe(409);
    expect(other.body.error.message).toBe('This Idempotency-Key was already used for a different decision. Send a new key for a new decision.');
    const reject = await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'reject', comment: 'first', pageVersion: (await workflowOf('releaseChecklist')).bound_version }, key);
    expect(reject.status).toBe(409);
    const someoneElse = await decide(d.users.alice.accountId, 'releaseChecklist', { decision: 'approve', comment: 'first', pageVersion: (await workflowOf('releaseChecklist')).bound_version }, key);
    expect(someoneElse.status).toBe(409);
    expect(await decisionsOf('releaseChecklist')).toEqual(before);
  });

  it('records concurrent requests with one key once', async () => {
    const v = (await workflowOf('releaseChecklist')).bound_version;
    const before = (await decisionsOf('releaseChecklist')).length;
    const key = randomUUID();
    const body = { decision: 'approve', comment: 'all at once', pageVersion: v };
    const answers = await Promise.all(Array.from({ length: 6 }, () => decide(d.users.bob.accountId, 'releaseChecklist', body, key)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 201]);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(5);
    const after = await decisionsOf('releaseChecklist');
    expect(after.length).toBe(before + 1);
    expect(after.filter((x: { comment: string }) => x.comment === 'all at once')).toHaveLength(1);
  });

  it.each([
    ['empty', ''],
    ['longer than 200 characters', 'k'.repeat(201)],
    ['not ASCII', 'clé-é'],
  ])('refuses a key that is %s (400), recording nothing', async (_name, key) => {
    const v = (await workflowOf('releaseChecklist')).bound_version;
    const before = (await decisionsOf('releaseChecklist')).length;
    const res = await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'bad key', pageVersion: v }, key);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^Idempotency-Key must/);
    expect((await decisionsOf('releaseChecklist')).length).toBe(before);
  });

  it('takes a 200-character printable key, and still takes decisions without one', async () => {
    const v = (await workflowOf('releaseChecklist')).bound_version;
    const key = ' !~'.repeat(66) + 'ab';
    expect(key).toHaveLength(200);
    expect((await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'long key', pageVersion: v }, key)).status).toBe(201);
    expect((await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'long key', pageVersion: v }, key)).headers['idempotent-replayed']).toBe('true');
    expect((await decide(d.users.bob.accountId, 'releaseChecklist', { decision: 'approve', comment: 'no key', pageVersion: v })).status).toBe(201);
    expect((await t.audit.verify(t.db, d.clientKey)).ok).toBe(true);
  });
});
