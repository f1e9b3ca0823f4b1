import request from 'supertest';
import { ManualClock } from '../../src/lib/clock';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

const DAY_MS = 86_400_000;

/** A space's "due N days after the workflow starts" default, for a macro that names no due date of its own. */
describe('a space default due date', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  const clock = new ManualClock(new Date());
  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
  });
  afterAll(() => t?.close());

  it('stays the start plus N days however many days the macro is viewed, and records no change for it', async () => {
    const token = d.contextJwt(d.users.spaceAdmin.accountId, { spaceKey: 'ENG' });
    const settings = (await request(t.baseUrl).get('/api/spaces/ENG/settings').set('Authorization', `JWT ${token}`)).body.settings;
    const saved = await request(t.baseUrl)
      .put('/api/spaces/ENG/settings')
      .set('Authorization', `JWT ${token}`)
      .send({ ...settings, defaults: { ...settings.defaults, dueOffsetDays: 5 } });
    expect(saved.status).toBe(200);
    await t.viewCache.listener.sync();
    const page = d.pages.releaseChecklist;
    const workflow = () => t.db('workflows').where({ client_key: d.clientKey, page_id: page.id, macro_id: page.macroIds[0] }).first();
    const configured = async () => (await t.db('audit_events').where({ client_key: d.clientKey, action: 'workflow.configured' })).length;

    const render = async () => {
      expect((await macroRequests(t).render(d.users.alice.accountId, 'releaseChecklist')).status).toBe(200);
      await t.viewCache.listener.sync();
      return workflow();
    };
    const first = await render();
    const start = new Date(first.created_at).getTime();
    expect(first.due_date).toBe(new Date(start + 5 * DAY_MS).toISOString().slice(0, 10));
    const changes = await configured();
    for (let day = 1; day <= 3; day++) {
      clock.advance(DAY_MS);
      expect((await render()).due_date).toBe(first.due_date);
    }
    expect(await configured()).toBe(changes);
  });
});
