import request from 'supertest';
import { keyIdOf } from '../../src/audit/checkpoint-format';
import { TRAIL_PROPERTY, TRAIL_TITLE } from '../../src/audit/witness/checkpoint-trail';
import { ManualClock } from '../../src/lib/clock';
import { startTestApp, TestApp } from '../helpers/test-app';

/**
 * The human-visible checkpoint trail (issue 19): a page in the customer's Confluence, started by a site admin,
 * to which Attest adds a version with the witnessed checkpoints after it signs (at most hourly). Its id is kept
 * in an app property, where the database cannot redirect it.
 */
describe('checkpoint trail page in Confluence', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  // Events are dated by the wall clock; checkpoints by this one, kept ahead of it.
  const clock = new ManualClock(new Date(Date.now() + 60_000).toISOString());
  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  const as = (accountId: string) => `JWT ${d.contextJwt(accountId, {})}`;
  async function append(n: number) {
    for (let i = 0; i < n; i++) {
      await t.db.transaction((trx) =>
        t.audit.append(trx, d.clientKey, {
          action: 'decision.approved',
          actor: { type: 'user', accountId: d.users.alice.accountId },
          spaceKey: 'ENG',
          page: { id: '1001', version: 1, title: 'Policy', bodyHash: null },
          workflowId: 'wf-trail',
          data: { decision: 'approve', comment: `ok ${i}`, round: 1, viaGroups: [] },
        }),
      );
    }
  }
  const trailPage = () => d.store.state.pages.find((p) => p.status === 'current' && d.store.current(p).title === TRAIL_TITLE);

  it('rests on scopes that cannot delete: the descriptor asks for READ and WRITE only', async () => {
    // WRITE "can create or edit content in Confluence, but not delete them"; DELETE and above are never asked for
    // (developer.atlassian.com/cloud/confluence/scopes-for-connect-apps), so the app cannot remove the trail.
    const descriptor = await request(t.baseUrl).get('/atlassian-connect.json');
    expect([...descriptor.body.scopes].map((x: string) => x.toUpperCase()).sort()).toEqual(['READ', 'WRITE']);
  });

  it('is off until a site admin starts it; space admins and others may not', async () => {
    const status = await request(t.baseUrl).get('/api/checkpoint-trail').set('Authorization', as(d.users.spaceAdmin.accountId));
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ enabled: false, canEnable: false });
    const refused = await request(t.baseUrl).post('/api/checkpoint-trail').set('Authorization', as(d.users.spaceAdmin.accountId)).send({ spaceKey: 'ENG' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/Only Confluence site administrators can start the checkpoint trail/);
    const bad = await request(t.baseUrl).post('/api/checkpoint-trail').set('Authorization', as(d.users.siteAdmin.accountId)).send({ spaceKey: 'no such key!' });
    expect(bad.status).toBe(400);
    expect(trailPage()).toBeUndefined();
  });

  it('a site admin starts it in a space: a page written by the app, its id in an app property, an audit event', async () => {
    await append(3);
    expect(await t.checkpoints.checkpoint(d.clientKey, clock.now())).toBe('signed');
    const started = await request(t.baseUrl).post('/api/checkpoint-trail').set('Authorization', as(d.users.siteAdmin.accountId)).send({ spaceKey: 'ENG' });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ enabled: true, spaceKey: 'ENG', url: expect.stringMatching(/^http.*\/spaces\/ENG\/pages\/\d+/), publishedSeq: 3 });
    const page = trailPage()!;
    expect(page).toMatchObject({ spaceKey: 'ENG', versions: [expect.objectContaining({ number: 1, authorId: expect.any(String) })] });
    const body = d.store.current(page).body;
    expect(body).toContain(`<code>${keyIdOf(t.config.signingKey)}</code>`);
    const cp = await t.db('audit_checkpoints').where({ client_key: d.clientKey, seq: 3 }).first();
    expect(body).toContain(`<tr><td>3</td><td><code>${cp.chain_hash.toString('hex')}</code></td>`);
    expect(d.store.appProperty(d.clientKey, TRAIL_PROPERTY)).toMatchObject({ pageId: page.id, spaceKey: 'ENG', publishedSeq: 3 });
    const event = await t.db('audit_events').where({ client_key: d.clientKey, action: 'checkpoint-trail.enabled' }).first();
    expect(JSON.parse(event.canonical)).toMatchObject({ space: 'ENG', data: { space: 'ENG' } });
    // Started once per site: again is 200 with the same page.
    const again = await request(t.baseUrl).post('/api/checkpoint-trail').set('Authorization', as(d.users.siteAdmin.accountId)).send({ spaceKey: 'SEC' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ spaceKey: 'ENG' });
    const seen = await request(t.baseUrl).get('/api/checkpoint-trail').set('Authorization', as(d.users.alice.accountId));
    expect(seen.body).toMatchObject({ enabled: true, spaceKey: 'ENG', canEnable: false });
  });

  it('gets a new version with the newer checkpoints at most hourly; the earlier versions stay in the history', async () => {
    const page = trailPage()!;
    await append(2);
    clock.set(new Date(clock.now().getTime() + 5 * 60_000));
    expect(await t.checkpoints.checkpoint(d.clientKey, clock.now())).toBe('signed');
    // Five minutes after the last version: the checkpoint is witnessed, the page waits.
    expect(page.versions).toHaveLength(1);
    await append(1);
    clock.set(new Date(clock.now().getTime() + 61 * 60_000));
    expect(await t.checkpoints.checkpoint(d.clientKey, clock.now())).toBe('signed');
    expect(page.versions).toHaveLength(2);
    const head = Number((await t.db('audit_heads').where({ client_key: d.clientKey }).first()).seq);
    const v2 = d.store.current(page);
    expect(v2.message).toMatch(new RegExp(`^Checkpoint at event ${head}, signed `));
    // Every checkpoint since the last version is in the table, the earlier one included.
    for (const seq of [3, head - 1, head]) expect(v2.body).toContain(`<tr><td>${seq}</td>`);
    expect(page.versions[0].body).not.toContain(`<tr><td>${head}</td>`);
    expect(d.store.appProperty(d.clientKey, TRAIL_PROPERTY)).toMatchObject({ publishedSeq: head });
  });

  it('a page that cannot be written never stops a checkpoint', async () => {
    const page = trailPage()!;
    d.store.setStatus(page.id, 'trashed');
    try {
      await append(1);
      clock.set(new Date(clock.now().getTime() + 2 * 60 * 60_000));
      expect(await t.checkpoints.checkpoint(d.clientKey, clock.now())).toBe('signed');
    } finally {
      d.store.setStatus(page.id, 'current');
    }
  });
});
