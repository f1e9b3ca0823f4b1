/** One job's outcome inside a batch: its own answer or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<J, R> {
  job: J;
  resolve(value: R): void;
  reject(error: unknown): void;
}

interface KeyState<J, R> {
  waiting: Array<Waiting<J, R>>;
  running: number;
}

/**
 * Group commit: jobs of one key (a tenant) that arrive while earlier batches of that key are running wait,
 * and the next batch takes all of them (up to `maxBatch`) — no timer, so a lone job starts at once and a
 * burst shares one transaction. At most `maxConcurrent` batches of a key run at a time (one can prepare
 * while another holds the tenant's head lock). `run` answers each job of the batch in order; if it throws,
 * every job of that batch gets its error. A run that calls `release` stops counting as running from then on
 * (for decisions: once its commit is sent, the next batch may go and wait for the locks in the database).
 */
export class Batches<J, R> {
  private readonly keys = new Map<string, KeyState<J, R>>();

  constructor(
    private readonly run: (key: string, jobs: J[], release: () => void) => Promise<Array<Settled<R>>>,
    private readonly opts: { maxBatch: number; maxConcurrent: number },
  ) {
    if (!(opts.maxBatch >= 1 && opts.maxConcurrent >= 1)) throw new Error('batches need maxBatch and maxConcurrent of at least 1');
  }

  /** Settles once the job's batch has finished (for decisions: after its commit). */
  submit(key: string, job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let state = this.keys.get(key);
      if (!state) this.keys.set(key, (state = { waiting: [], running: 0 }));
      state.waiting.push({ job, resolve, reject });
      this.pump(key, state);
    });
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
          release();
          if (!state.running && !state.waiting.length && this.keys.get(key) === state) this.keys.delete(key);
        });
    }
  }
}
