/**
 * Keyed reads that arrive while `maxInFlight` reads are out (one by default) wait for one of them, then go together
 * in one read (issue 15): to the database in one statement (the decisions' workflow rows), or to Confluence in one
 * call (the pages' heads, confluence/page-head-reads.ts). On the decision path each request read its workflow row
 * alone, and a round trip to PostgreSQL costs the app more CPU (the socket write and waking the backend) than the
 * query costs the database.
 *
 * Nothing is cached: a read that waits is sent after the caller asked, so a caller sees every write that
 * committed before it asked (its own included), exactly as with a read of its own. A key asked by several
 * callers in the same round is read once, and each caller gets the row to map on its own.
 */
type Waiter<R> = { resolve: (row: R | undefined) => void; reject: (err: unknown) => void };

export class CoalescedReads<K, R> {
  private queue = new Map<string, { key: K; waiters: Array<Waiter<R>> }>();
  private inFlight = 0;

  /**
   * `idOf`: a key's identity (two keys with the same id are the same read); `readMany`: the rows of `keys`,
   * by id, absent for a key with no row; `maxKeys`: at most this many keys in one statement; `maxInFlight`: reads
   * that may be in flight at once (a key asked while fewer are goes at once, alone or with others asked meanwhile).
   */
  constructor(
    private readonly idOf: (key: K) => string,
    private readonly readMany: (keys: K[]) => Promise<Map<string, R>>,
    private readonly maxKeys = 256,
    private readonly maxInFlight = 1,
  ) {}

  /** The row of `key` (undefined: none), read now, or with the others asked while the reads before were in flight. */
  get(key: K): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.idOf(key);
      const entry = this.queue.get(id);
      if (entry) entry.waiters.push({ resolve, reject });
      else this.queue.set(id, { key, waiters: [{ resolve, reject }] });
      this.pump();
    });
  }

  /** Sends the keys waiting, `maxKeys` to a read, while fewer than `maxInFlight` reads are out. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.size) {
      const round: Array<[string, { key: K; waiters: Array<Waiter<R>> }]> = [];
      for (const entry of this.queue) {
        if (round.length === this.maxKeys) break;
        round.push(entry);
      }
      for (const [id] of round) this.queue.delete(id);
      this.inFlight++;
      // The next read goes out before this one's callers go on (as soon as a read is free, nothing waits longer).
      const next = () => {
        this.inFlight--;
        this.pump();
      };
      // A readMany that throws instead of rejecting fails its round all the same.
      new Promise<Map<string, R>>((resolve) => resolve(this.readMany(round.map(([, e]) => e.key)))).then(
        (rows) => {
          next();
          for (const [id, e] of round) for (const w of e.waiters) w.resolve(rows.get(id));
        },
        (err: unknown) => {
          next();
          for (const [, e] of round) for (const w of e.waiters) w.reject(err);
        },
      );
    }
  }
}
