/** Where an Approvals macro sits on its page. Pure: reads storage format, no I/O. */

/** The macro's key in the descriptor: Confluence writes it as the structured macro's `ac:name`. */
export const APPROVALS_MACRO_KEY = 'attest-approvals';

const MACRO_START_RE = /<ac:structured-macro\b([^>]*)>/g;

function attr(attrs: string, name: string): string | null {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(attrs);
  return m ? m[1] : null;
}

/**
 * The macro's place among the page's Approvals macros (1-based) and how many there are, or null when the
 * body does not hold it (a body the app could not read in full, or a macro id Confluence rewrote).
 */
export function macroPosition(storage: string, macroId: string): { position: number; count: number } | null {
  const ids = [...storage.matchAll(MACRO_START_RE)]
    .filter((m) => attr(m[1], 'ac:name') === APPROVALS_MACRO_KEY)
    .map((m) => attr(m[1], 'ac:macro-id'));
  const i = ids.indexOf(macroId);
  return i < 0 ? null : { position: i + 1, count: ids.length };
}

/**
 * Which workflow this is, for people: its title, else its place when the page holds more than one Approvals
 * macro ("Approvals 2 of 2"); null when the page title alone says it.
 */
export function workflowName(wf: { title: string | null; pagePosition: { position: number; count: number } | null }): string | null {
  if (wf.title) return wf.title;
  if (wf.pagePosition && wf.pagePosition.count > 1) return `Approvals ${wf.pagePosition.position} of ${wf.pagePosition.count}`;
  return null;
}
