import { ManualClock } from '../../src/lib/clock';
import { macroRequests } from '../helpers/macro-requests';
import { startTestApp, TestApp } from '../helpers/test-app';

const DAY = 86_400_000;

/**
 * Rendered macro HTML kept on its cached snapshot (issue 15, src/view-cache/rendered-views.ts): served again
 * to the same viewer, on the same day, for the same signed parameters, until a write to the tenant's rows
 * drops the snapshot — and never across any of those.
 */
describe('rendered views', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  let m: ReturnType<typeof macroRequests>;
  const clock = new ManualClock(new Date());

  beforeAll(async () => {
    t = await startTestApp({ clock });
    d = t.devhost!;
    m = macroRequests(t);
  });
  afterAll(() => t.close());

  const counts = () => ({ ...t.viewCache.rendered.counts });
  /** Renders until the macro's snapshot stays cached (a render that writes keeps nothing), then once more. */
  async function render(as: string, pageKey: 'releaseChecklist' | 'onCall' = 'releaseChecklist') {
    const res = await m.render(as, pageKey);
    expect(res.status).toBe(200);
    await t.viewCache.listener.sync();
    return res.text;
  }

  it('serves an unchanged render again to the same viewer only, and not on another day', async () => {
    const alice = d.users.alice.accountId;
    const bob = d.users.bob.accountId;
    // The first render creates the workflow (a write): the second is built from the cached rows and kept.
    await render(alice);
    const built = await render(alice);
    const before = counts();
    expect(await render(alice)).toBe(built);
    expect(await render(alice)).toBe(built);
    expect(counts()).toEqual({ hits: before.hits + 2, kept: before.kept });

    // Bob's view is his own: built for him once, then served to him.
    const bobs = await render(bob);
    expect(counts()).toEqual({ hits: before.hits + 2, kept: before.kept + 1 });
    expect(await render(bob)).toBe(bobs);
    expect(counts().hits).toBe(before.hits + 3);

    // The next day (due and overdue are days): built again.
    clock.advance(DAY);
    await render(alice);
    expect(counts()).toEqual({ hits: before.hits + 3, kept: before.kept + 2 });
    await render(alice);
    expect(counts().hits).toBe(before.hits + 4);
  });

  it('builds the view again after a write to the tenant (a decision), and shows it', async () => {
    const alice = d.users.alice.accountId;
    await render(alice);
    await render(alice);
    const wf = await m.api(alice, 'releaseChecklist').get();
    const decided = await m.api(alice, 'releaseChecklist').decide({ decision: 'approve', comment: 'rendered-views decision', pageVersion: wf.body.boundVersion });
    expect(decided.status).toBe(201);
    await t.viewCache.listener.sync();
    const hits = counts().hits;
    expect(await render(alice)).toContain('rendered-views decision');
    expect(counts().hits).toBe(hits);
  });

  it('keeps nothing from a render that wrote (new parameters), and nothing for other parameters', async () => {
    const alice = d.users.alice.accountId;
    await render(alice, 'onCall');
    await render(alice, 'onCall');
    const before = counts();
    await d.saveMacro(d.pages.onCall.id, d.pages.onCall.macroIds[0], { ...d.page(d.pages.onCall.id).macros[0].params, title: 'Rendered views' }, d.users.author.accountId);
    // Signed for the new parameters: the render reconfigures the workflow (a write) and keeps nothing.
    const reconfigured = await render(alice, 'onCall');
    expect(reconfigured).toContain('Rendered views');
    expect(counts()).toEqual(before);
    // Read again from the database, built and kept; then served.
    await render(alice, 'onCall');
    expect(counts()).toEqual({ hits: before.hits, kept: before.kept + 1 });
    await render(alice, 'onCall');
    expect(counts().hits).toBe(before.hits + 1);
  });
});
