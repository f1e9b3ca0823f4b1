/**
 * A worker's batch told to the main thread in one object (issue 15): its rows after the first, when they agree
 * among themselves (each seq one more, each prev the chain hash before, one tenant, time never going back, no full
 * row after a row the filter hid by time). Cloning a batch's facts row by row (an object and four strings each)
 * and reading them back cost the workers and the main thread ~2.3 µs a row, a tenth of a pack's verification.
 * The main thread then checks only what joins the run to the rows before it (EvidenceChecker.applyRun), and
 * applies the rows one by one, as before, whenever that is not enough to name a problem exactly.
 */
import type { RowFacts, RowFilter } from './row-checks';

export interface RowRun {
  /** Rows in the run: the batch's rows after its first. */
  n: number;
  /** The first row's seq (the last's is firstSeq + n - 1) and prev_chain_hash (the chain hash of the batch's first row). */
  firstSeq: number;
  firstPrev: string;
  lastChain: string;
  /** The tenant of its full rows (null: every row is hidden). */
  tenant: string | null;
  /** The first and the last `at` of its full rows (null: none has one). */
  firstAt: string | null;
  lastAt: string | null;
  /** Rows shown by hashes only, and the first one's seq. */
  hidden: number;
  firstHiddenSeq: number | null;
  /** It has a full row that is not an erasure (which a row hidden before it by time would make a failure). */
  fullNonErasure: boolean;
  erasedRefs: string[];
  /** Each ref shown without its person, with the seq that first shows it. */
  blankRefs: Array<[ref: string, seq: number]>;
  /**
   * Each seq the checker watches (a checkpoint's) in the run, with its chain hash and the latest `at` of the run's
   * full rows up to it (null: none yet).
   */
  watched: Array<[seq: number, chain: string, at: string | null]>;
}

/**
 * The run of `facts[1…]`, or null when a row breaks the sequence that the rows before it in the batch set (the
 * main thread then applies them one by one and names that row's problem). `filter`: the checker's (RowConfig);
 * `watch`: the seqs it watches (EvidenceChecker.watchedSeqs).
 */
export function runOf(facts: readonly RowFacts[], filter: RowFilter | null, watch: ReadonlySet<number>): RowRun | null {
  if (facts.length < 2) return null;
  const hidesByTime = filter !== null && filter.space === null;
  const run: RowRun = {
    n: facts.length - 1, firstSeq: facts[1].seq, firstPrev: facts[1].prev, lastChain: facts[facts.length - 1].chain,
    tenant: null, firstAt: null, lastAt: null, hidden: 0, firstHiddenSeq: null, fullNonErasure: false,
    erasedRefs: [], blankRefs: [], watched: [],
  };
  let hiddenSeen = facts[0].hidden;
  const blank = new Set<string>();
  for (let i = 1; i < facts.length; i++) {
    const f = facts[i];
    const before = facts[i - 1];
    if (f.seq !== before.seq + 1 || f.prev !== before.chain) return null;
    if (f.hidden) {
      run.hidden++;
      run.firstHiddenSeq ??= f.seq;
      hiddenSeen = true;
    } else if (!fullRowJoins(run, f, hidesByTime && hiddenSeen)) {
      return null;
    } else if (f.blankRef !== null && !blank.has(f.blankRef)) {
      blank.add(f.blankRef);
      run.blankRefs.push([f.blankRef, f.seq]);
    }
    if (watch.has(f.seq)) run.watched.push([f.seq, f.chain, run.lastAt]);
  }
  return run;
}

/** A full row added to the run: false when its tenant or time differs from the run's, or a hidden row forbids it. */
function fullRowJoins(run: RowRun, f: RowFacts, afterHidden: boolean): boolean {
  if (run.tenant === null) run.tenant = f.tenant;
  else if (f.tenant !== run.tenant) return false;
  if (f.at !== null) {
    if (run.lastAt !== null && f.at < run.lastAt) return false;
    run.firstAt ??= f.at;
    run.lastAt = f.at;
  }
  if (f.erasure) {
    if (f.erasedRef) run.erasedRefs.push(f.erasedRef);
    return true;
  }
  run.fullNonErasure = true;
  return !afterHidden;
}

/** A batch's result as a worker hands it back: its facts but the first told as a run, when they make one. */
export function asRun<T extends { facts: RowFacts[] }>(r: T, filter: RowFilter | null, watch: ReadonlySet<number>): T & { run?: RowRun } {
  const run = runOf(r.facts, filter, watch);
  return run ? { ...r, facts: [r.facts[0]], run } : r;
}

