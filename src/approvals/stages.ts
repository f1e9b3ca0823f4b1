/**
 * Ordered stages (issue 16): Approvals macros on one page chained by their `after` parameter, which names the
 * `title` of the macro whose approval a stage waits for. Pure: reads the page's workflows, no I/O.
 */
import { STATE_LABELS, type WorkflowState } from './approval-rules';

/** What the stage rules need of a workflow. */
export interface StageWorkflow {
  id: string;
  title: string | null;
  after: string | null;
  state: WorkflowState;
  pagePosition: { position: number; count: number } | null;
}

/** Where a stage sits in its page's sequence: canonical in audit events (`data.stage`) and the CSV's `stage` column. */
export interface StagePlace {
  position: number;
  count: number;
  /** The title of the stage it waits for; null for the first stage. */
  after: string | null;
}

/** In what order a page's workflows are walked: their place on the page, then id (stable). */
function pageOrder<T extends StageWorkflow>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => (a.pagePosition?.position ?? 1e9) - (b.pagePosition?.position ?? 1e9) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The workflow a title names on this page (the first in page order when two share it). */
function titled<T extends StageWorkflow>(page: readonly T[], title: string): T | undefined {
  return pageOrder(page).find((w) => w.title === title);
}

/**
 * The stages before `wf`, nearest first, as far as its `after` names resolve; `broken` says why the chain stops
 * early: `missing` (no macro on the page has that title) or `cycle` (the names lead back to a stage already seen).
 */
export function predecessors<T extends StageWorkflow>(wf: StageWorkflow, page: readonly T[]): { before: T[]; broken: null | { kind: 'missing' | 'cycle'; title: string } } {
  const before: T[] = [];
  const seen = new Set([wf.id]);
  let at: StageWorkflow = wf;
  while (at.after !== null) {
    const prev = titled(page, at.after);
    if (!prev) return { before, broken: { kind: 'missing', title: at.after } };
    if (seen.has(prev.id)) return { before, broken: { kind: 'cycle', title: at.after } };
    seen.add(prev.id);
    before.push(prev);
    at = prev;
  }
  return { before, broken: null };
}

/** The stages that wait directly for `wf` (by its title), in page order. */
export function successors<T extends StageWorkflow>(wf: StageWorkflow, page: readonly T[]): T[] {
  if (!wf.title) return [];
  return pageOrder(page).filter((w) => w.id !== wf.id && w.after === wf.title && titled(page, wf.title!)?.id === wf.id);
}

/**
 * The sequence `wf` belongs to, first stage first: its predecessors, itself, then the first stage waiting for
 * each stage in turn. Null when it is not staged (it waits for nobody and nobody waits for it).
 */
export function sequenceOf<T extends StageWorkflow>(wf: T, page: readonly T[]): T[] | null {
  const { before } = predecessors(wf, page);
  const seq = [...before.reverse(), wf];
  const seen = new Set(seq.map((w) => w.id));
  for (let next = successors(wf, page)[0]; next && !seen.has(next.id); next = successors(next, page)[0]) {
    seq.push(next);
    seen.add(next.id);
  }
  return seq.length > 1 || wf.after !== null ? seq : null;
}

/** The stage's place in its sequence; null when it is not staged. */
export function stagePlace(wf: StageWorkflow, page: readonly StageWorkflow[]): StagePlace | null {
  const seq = sequenceOf(wf, page);
  if (!seq) return null;
  return { position: seq.findIndex((w) => w.id === wf.id) + 1, count: seq.length, after: wf.after };
}

/**
 * Where a page's sequence stands: `rejected` when any stage is rejected (a rejection in any stage rejects the
 * page's approval), `approved` when every stage is, else `open` at its current stage (the first not approved).
 */
export function sequenceState<T extends StageWorkflow>(seq: readonly T[]): { result: 'open' | 'approved' | 'rejected'; current: T | null } {
  const rejected = seq.find((w) => w.state === 'rejected');
  if (rejected) return { result: 'rejected', current: rejected };
  const current = seq.find((w) => w.state !== 'approved') ?? null;
  return { result: current ? 'open' : 'approved', current };
}

/** The sequence as the macro, the dashboard and My approvals show it. */
export function stageSummary(wf: StageWorkflow, page: readonly StageWorkflow[]) {
  const seq = sequenceOf(wf, page);
  if (!seq) return null;
  const { result, current } = sequenceState(seq);
  const gate = stageGate(wf, page);
  const name = (w: StageWorkflow, i: number) => w.title ?? `Stage ${i + 1}`;
  return {
    position: seq.findIndex((w) => w.id === wf.id) + 1,
    count: seq.length,
    result,
    resultLabel: result === 'approved' ? 'Approved' : result === 'rejected' ? `Rejected in ${name(current!, seq.indexOf(current!))}` : `At stage ${seq.indexOf(current!) + 1} of ${seq.length}: ${name(current!, seq.indexOf(current!))}`,
    currentTitle: current ? name(current, seq.indexOf(current)) : null,
    gate,
    stages: seq.map((w, i) => {
      const waiting = stageGate(w, page) !== null;
      return {
        position: i + 1,
        title: name(w, i),
        isThis: w.id === wf.id,
        isCurrent: current?.id === w.id,
        label: waiting ? 'Waiting' : STATE_LABELS[w.state].label,
        tone: waiting ? 'default' : STATE_LABELS[w.state].tone,
      };
    }),
  };
}

/**
 * Why a stage takes no decisions yet, in words, or null when it is open: every stage before it must be approved.
 * The one home of the rule the decision API (409) and the screens follow.
 */
export function stageGate(wf: StageWorkflow, page: readonly StageWorkflow[]): string | null {
  if (wf.after === null) return null;
  const { before, broken } = predecessors(wf, page);
  // A macro's workflow exists from its first render: a missing title is a typo, or a stage nobody has viewed yet.
  if (broken?.kind === 'missing') return `Opens after ${broken.title}. No Approvals macro titled “${broken.title}” has been shown on this page yet: if there is none, edit this macro's After parameter.`;
  if (broken?.kind === 'cycle') return `Opens after ${broken.title}, but the stages wait for each other in a circle: edit the macros' After parameters.`;
  // The earliest stage not approved is the one everything after it waits for.
  const blocking = [...before].reverse().find((w) => w.state !== 'approved');
  if (!blocking) return null;
  return blocking.state === 'rejected' ? `Opens after ${blocking.title}, which was rejected: the page's approval is rejected.` : `Opens after ${blocking.title}.`;
}
