/** How long a rendered macro is served again: display names come from Confluence, which does not tell us of changes. */
export const RENDERED_VIEW_TTL_MS = 60_000;
/** Viewers × parameter sets kept per snapshot (a page seen by many people keeps the most recent ones). */
const MAX_PER_SNAPSHOT = 256;

interface Rendered {
  html: string;
  at: number;
}

/**
 * The HTML of macro renders that changed nothing, kept on the render snapshot they were built from (issue 15,
 * "renders"). A snapshot lives in the ViewCache until a write to its tenant's rows (any instance, through
 * NOTIFY) drops it; the HTML goes with it, because it is held in a WeakMap keyed by that very object. So a
 * rendered view is served again only while nothing it was built from changed in the database, for at most
 * RENDERED_VIEW_TTL_MS (people's display names come from Confluence), and only for the same `key` — which the
 * caller makes of everything else the HTML depends on: the viewer, the day (due and overdue), and every
 * signed parameter of the request. The viewer's read permission is checked on every request before this is
 * asked. A snapshot the cache did not keep (it is off, or a write overlapped the load) is held by nobody, so
 * its entries are never asked for again and go with it.
 */
export class RenderedViews {
  private readonly bySnapshot = new WeakMap<object, Map<string, Rendered>>();
  /** Served from here, and rendered then kept (the bench and tests read them). */
  readonly counts = { hits: 0, kept: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  get(snapshot: object, key: string): string | undefined {
    const views = this.bySnapshot.get(snapshot);
    const found = views?.get(key);
    if (!found) return undefined;
    if (this.now() - found.at >= RENDERED_VIEW_TTL_MS) {
      views!.delete(key);
      return undefined;
    }
    this.counts.hits++;
    return found.html;
  }

  set(snapshot: object, key: string, html: string): void {
    let views = this.bySnapshot.get(snapshot);
    if (!views) this.bySnapshot.set(snapshot, (views = new Map()));
    // Oldest first out: a Map iterates in insertion order, and a key set again moves to the end. The expired go
    // first: a key is asked again only on its own day, so a quiet snapshot (kept for days while nothing is written)
    // would otherwise hold up to MAX_PER_SNAPSHOT views nobody can be served.
    const now = this.now();
    views.delete(key);
    for (const [k, v] of views) {
      if (now - v.at < RENDERED_VIEW_TTL_MS && views.size < MAX_PER_SNAPSHOT) break;
      views.delete(k);
    }
    views.set(key, { html, at: now });
    this.counts.kept++;
  }

  /** How many views are kept on `snapshot` (tests). */
  keptOn(snapshot: object): number {
    return this.bySnapshot.get(snapshot)?.size ?? 0;
  }
}
