import type { Settled } from '../lib/settled';

export interface BatchOptions {
  maxBatch: number;
  maxConcurrent: number;
  /**
   * The longest a job arriving at an idle key waits for the jobs announced as coming (`coming`), in ms; 0 (the
   * default) never waits. The wait is also never longer than batches have lately taken.
   */
  maxLingerMs?: number;
  /** Told of each batch as it starts: its jobs, and how long the oldest of them waited for it (ms). */
  onBatch?: (size: number, waitedMs: number) => void;
}

/**
 * The decisions' group commit unless configured (ATTEST_DECISION_BATCH, ATTEST_DECISION_LINGER_MS): 32 to a
 * transaction, one transaction of a tenant at a time, a lone decision lingering up to 50 ms (bench/README.md).
 */
export const DEFAULT_DECISION_BATCHES = { maxBatch: 32, maxConcurrent: 1, maxLingerMs: 50 } as const satisfies BatchOptions;

/** A job announced before it is ready (its checks are still running): submit it, or cancel once it will not come. */
export interface Ticket<J, R> {
  submit(job: J): Promise<R>;
  /** Nothing once the job was submitted; call it in a `finally`. */
  cancel(): void;
}

interface Waiting<J, R> {
  job: J;
  /** When it arrived (performance.now()). */
  at: number;
  resolve(value: R): void;
  reject(error: unknown): void;
}

interface KeyState<J, R> {
  waiting: Array<Waiting<J, R>>;
  running: number;
  /** Jobs announced and neither submitted nor cancelled. */
  coming: number;
  /** Set while the waiting jobs linger for the coming ones. */
  linger: ReturnType<typeof setTimeout> | null;
}

/**
 * Group commit: jobs of one key (a tenant) that arrive while earlier batches of that key are running wait,
 * and the next batch takes all of them (up to `maxBatch`), so a burst shares one transaction. At most
 * `maxConcurrent` batches of a key run at a time (one can prepare while another holds the tenant's head lock).
 * `run` answers each job of the batch in order; if it throws, every job of that batch gets its error. A run that
 * calls `release` stops counting as running from then on (for decisions: once its commit is sent, the next batch
 * may go and wait for the locks in the database).
 *
 * A job arriving while no batch of its key runs starts at once, unless other jobs of the key were announced
 * (`coming`) and are still on their way: then it lingers until they have all come, the batch is full, or
 * `maxLingerMs` has passed — and never longer than recent batches (of any key) took, since a batch started alone
 * would keep the ones coming waiting about that long anyway (issue 15, bench/README.md: 32 clients' decisions
 * reached the batches one first and the rest a few milliseconds later, and a third of the batches held one).
 */
export class Batches<J, R> {
  private readonly keys = new Map<string, KeyState<J, R>>();
  /** How long batches took lately (ms, a moving average from start to finish): the bound of a linger. */
  private recentRunMs = 0;

  constructor(
    private readonly run: (key: string, jobs: J[], release: () => void) => Promise<Array<Settled<R>>>,
    private readonly opts: BatchOptions,
  ) {
    if (!(opts.maxBatch >= 1 && opts.maxConcurrent >= 1)) throw new Error('batches need maxBatch and maxConcurrent of at least 1');
    if (!((opts.maxLingerMs ?? 0) >= 0)) throw new Error('batches need a maxLingerMs of 0 or more');
  }

  /** Settles once the job's batch has finished (for decisions: after its commit). */
  submit(key: string, job: J): Promise<R> {
    return this.enqueue(key, this.stateOf(key), job);
  }

  /** Announces a job of `key` that is on its way, so that a batch about to start alone may wait for it. */
  coming(key: string): Ticket<J, R> {
    const state = this.stateOf(key);
    state.coming++;
    let pending = true;
    const gone = () => {
      if (!pending) return false;
      pending = false;
      state.coming--;
      return true;
    };
    return {
      submit: (job) => {
        if (!gone()) return Promise.reject(new Error('this ticket was already used'));
        return this.enqueue(key, state, job);
      },
      cancel: () => {
        if (!gone()) return;
        if (state.linger && !state.coming) this.endLinger(key, state);
        this.dropIfIdle(key, state);
      },
    };
  }

  /** `onBatch`, which never stops a batch: its jobs are already taken from the queue. */
  private told(size: number, waitedMs: number): void {
    try {
      this.opts.onBatch?.(size, waitedMs);
    } catch {
      // A metrics hook that throws loses its observation, nothing else.
    }
  }

  private stateOf(key: string): KeyState<J, R> {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = { waiting: [], running: 0, coming: 0, linger: null }));
    return state;
  }

  private enqueue(key: string, state: KeyState<J, R>, job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => this.arrive(key, state, { job, at: performance.now(), resolve, reject }));
  }

  private arrive(key: string, state: KeyState<J, R>, waiting: Waiting<J, R>): void {
    state.waiting.push(waiting);
    const full = state.waiting.length >= this.opts.maxBatch;
    if (state.linger) {
      if (!state.coming || full) this.endLinger(key, state);
      return;
    }
    const lingerMs = Math.min(this.opts.maxLingerMs ?? 0, this.recentRunMs);
    if (!state.running && state.coming && !full && lingerMs >= 1) {
      state.linger = setTimeout(() => this.endLinger(key, state), lingerMs);
      return;
    }
    this.pump(key, state);
  }

  private endLinger(key: string, state: KeyState<J, R>): void {
    if (state.linger) clearTimeout(state.linger);
    state.linger = null;
    this.pump(key, state);
  }

  /** A key's state goes once nothing runs, waits or is coming; a batch still finishing keeps its own (see pump). */
  private dropIfIdle(key: string, state: KeyState<J, R>): void {
    if (!state.running && !state.waiting.length && !state.coming && this.keys.get(key) === state) this.keys.delete(key);
  }

  /**
   * Starts batches of `state` (the key's) while it may. A batch keeps its own key's state: once that state is
   * idle and gone from the map, a batch still finishing must not touch the state that replaced it.
   */
  private pump(key: string, state: KeyState<J, R>): void {
    while (state.running < this.opts.maxConcurrent && state.waiting.length) {
      const batch = state.waiting.splice(0, this.opts.maxBatch);
      state.running++;
      let running = true;
      const release = () => {
        if (!running) return;
        running = false;
        state.running--;
        this.pump(key, state);
      };
      const started = performance.now();
      this.told(batch.length, started - batch[0].at);
      this.run(
        key,
        batch.map((w) => w.job),
        release,
      )
        .then(
          (results) => batch.forEach((w, i) => (results[i]?.ok ? w.resolve((results[i] as { value: R }).value) : w.reject(results[i] ? (results[i] as { error: unknown }).error : new Error('no answer for a job of the batch')))),
          (err) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.recentRunMs += (performance.now() - started - this.recentRunMs) / 8;
          release();
          this.dropIfIdle(key, state);
        });
    }
  }
}
