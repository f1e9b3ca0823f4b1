import { RENDERED_VIEW_TTL_MS, RenderedViews } from './rendered-views';

describe('RenderedViews', () => {
  let now = 1_000_000;
  const views = () => new RenderedViews(() => now);

  it('serves a view again only for the same snapshot object and the same key', () => {
    const r = views();
    const snapshot = {};
    r.set(snapshot, 'alice\n2026-12-02\n/macro?a=1', '<p>A</p>');
    expect(r.get(snapshot, 'alice\n2026-12-02\n/macro?a=1')).toBe('<p>A</p>');
    // Another viewer, another day, other parameters, or a snapshot loaded again after a write: not served.
    expect(r.get(snapshot, 'bob\n2026-12-02\n/macro?a=1')).toBeUndefined();
    expect(r.get(snapshot, 'alice\n2026-12-03\n/macro?a=1')).toBeUndefined();
    expect(r.get(snapshot, 'alice\n2026-12-02\n/macro?a=2')).toBeUndefined();
    expect(r.get({}, 'alice\n2026-12-02\n/macro?a=1')).toBeUndefined();
    expect(r.counts).toEqual({ hits: 1, kept: 1 });
  });

  it('forgets a view after the TTL (display names come from Confluence)', () => {
    const r = views();
    const snapshot = {};
    r.set(snapshot, 'k', 'html');
    now += RENDERED_VIEW_TTL_MS - 1;
    expect(r.get(snapshot, 'k')).toBe('html');
    now += 1;
    expect(r.get(snapshot, 'k')).toBeUndefined();
  });

  it('keeps at most 256 views per snapshot, the oldest going first', () => {
    const r = views();
    const snapshot = {};
    for (let i = 0; i < 300; i++) r.set(snapshot, `k${i}`, `v${i}`);
    expect(r.get(snapshot, 'k43')).toBeUndefined();
    expect(r.get(snapshot, 'k44')).toBe('v44');
    expect(r.get(snapshot, 'k299')).toBe('v299');
  });

  it('lets go of expired views when it keeps another on the same snapshot (a key of past days is never asked again)', () => {
    const r = views();
    const snapshot = {};
    for (let day = 1; day <= 20; day++) {
      r.set(snapshot, `alice\n2026-12-${String(day).padStart(2, '0')}\n/macro?a=1`, '<p>A</p>');
      now += 86_400_000;
    }
    r.set(snapshot, 'bob\n2026-12-21\n/macro?a=1', '<p>B</p>');
    now += RENDERED_VIEW_TTL_MS - 1;
    r.set(snapshot, 'carol\n2026-12-21\n/macro?a=1', '<p>C</p>');
    expect(r.keptOn(snapshot)).toBe(2);
    expect(r.get(snapshot, 'bob\n2026-12-21\n/macro?a=1')).toBe('<p>B</p>');
  });
});
