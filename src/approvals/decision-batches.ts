/** One job's outcome inside a batch: its own answer or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<J, R> {
  job: J;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: jobs of one key (a tenant) that arrive while earlier batches of that key are running wait,
 * and the next batch takes all of them (up to `maxBatch`) — no timer, so a lone job starts at once and a
 * burst shares one transaction. At most `maxConcurrent` batches of a key run at a time (one can prepare
 * while another holds the tenant's head lock). `run` answers each job of the batch in order; if it throws,
 * every job of that batch gets its error.
 */
export class Batches<J, R> {
  private readonly keys = new Map<string, { waiting: Array<Waiting<J, R>>; running: number }>();

  constructor(
    private readonly run: (key: string, jobs: J[]) => Promise<Array<Settled<R>>>,
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
      this.pump(key);
    });
  }

  private pump(key: string): void {
    const state = this.keys.get(key);
    if (!state) return;
    while (state.running < this.opts.maxConcurrent && state.waiting.length) {
      const batch = state.waiting.splice(0, this.opts.maxBatch);
      state.running++;
      this.run(
        key,
        batch.map((w) => w.job),
      )
        .then(
          (results) => batch.forEach((w, i) => (results[i]?.ok ? w.resolve((results[i] as { value: R }).value) : w.reject(results[i] ? (results[i] as { error: unknown }).error : new Error('no answer for a job of the batch')))),
          (err) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          state.running--;
          if (!state.running && !state.waiting.length) this.keys.delete(key);
          else this.pump(key);
        });
    }
  }
}
