/**
 * Keyed reads that arrive while one is in flight wait for it, then go to the database together in one statement
 * (issue 15). On the decision path each request read its workflow row alone, and a round trip to PostgreSQL
 * costs the app more CPU (the socket write and waking the backend) than the query costs the database.
 *
 * Nothing is cached: a read that waits is sent after the caller asked, so a caller sees every write that
 * committed before it asked (its own included), exactly as with a read of its own. A key asked by several
 * callers in the same round is read once, and each caller gets the row to map on its own.
 */
type Waiter<R> = { resolve: (row: R | undefined) => void; reject: (err: unknown) => void };

export class CoalescedReads<K, R> {
  private queue = new Map<string, { key: K; waiters: Array<Waiter<R>> }>();
  private running = false;

  /**
   * `idOf`: a key's identity (two keys with the same id are the same read); `readMany`: the rows of `keys`,
   * by id, absent for a key with no row; `maxKeys`: at most this many keys in one statement.
   */
  constructor(
    private readonly idOf: (key: K) => string,
    private readonly readMany: (keys: K[]) => Promise<Map<string, R>>,
    private readonly maxKeys = 256,
  ) {}

  /** The row of `key` (undefined: none), read now, or with the others asked while the read before was in flight. */
  get(key: K): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.idOf(key);
      const entry = this.queue.get(id);
      if (entry) entry.waiters.push({ resolve, reject });
      else this.queue.set(id, { key, waiters: [{ resolve, reject }] });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.size) {
        const round: Array<[string, { key: K; waiters: Array<Waiter<R>> }]> = [];
        for (const entry of this.queue) {
          if (round.length === this.maxKeys) break;
          round.push(entry);
        }
        for (const [id] of round) this.queue.delete(id);
        let rows: Map<string, R>;
        try {
          rows = await this.readMany(round.map(([, e]) => e.key));
        } catch (err) {
          for (const [, e] of round) for (const w of e.waiters) w.reject(err);
          continue;
        }
        for (const [id, e] of round) for (const w of e.waiters) w.resolve(rows.get(id));
      }
    } finally {
      this.running = false;
    }
  }
}
