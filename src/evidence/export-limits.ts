import { TooManyRequestsError } from '../lib/errors';

/**
 * An export holds a repeatable-read snapshot (one database connection) for as long as its download runs,
 * and the download runs as fast as the client reads. These bound what slow or stalled clients can hold.
 */
export interface ExportLimits {
  /** Exports running at once in this process; also the size of the exports' own connection pool. */
  concurrent: number;
  perTenant: number;
  perUser: number;
  /** A download whose socket makes no progress for this long is ended and its connection released. */
  stallMs: number;
  /**
   * PostgreSQL ends an export's session idle inside its snapshot for longer: the backstop for the above.
   * A client must take each batch of rows the cursor fetches (500, about a megabyte) within it.
   */
  idleInTransactionMs: number;
}

export const DEFAULT_EXPORT_LIMITS: ExportLimits = {
  concurrent: 4,
  perTenant: 2,
  perUser: 1,
  stallMs: 30_000,
  idleInTransactionMs: 120_000,
};

/** Counts running exports per process, tenant and user; refuses one over any cap at once (429), never queues. */
export class ExportLimiter {
  private total = 0;
  private readonly tenants = new Map<string, number>();
  private readonly users = new Map<string, number>();

  constructor(private readonly limits: Pick<ExportLimits, 'concurrent' | 'perTenant' | 'perUser'>) {}

  /** Takes a slot; the returned function gives it back (calling it twice gives back once). */
  acquire(clientKey: string, accountId: string): () => void {
    const user = JSON.stringify([clientKey, accountId]);
    if ((this.users.get(user) ?? 0) >= this.limits.perUser) {
      throw new TooManyRequestsError('You already have an evidence export running. Wait for it to finish, then try again.');
    }
    if ((this.tenants.get(clientKey) ?? 0) >= this.limits.perTenant) {
      throw new TooManyRequestsError('Other evidence exports of this site are running. Try again in a minute.');
    }
    if (this.total >= this.limits.concurrent) {
      throw new TooManyRequestsError('Too many evidence exports are running. Try again in a minute.');
    }
    const bump = (map: Map<string, number>, key: string, by: number) => {
      const n = (map.get(key) ?? 0) + by;
      if (n > 0) map.set(key, n);
      else map.delete(key);
    };
    this.total++;
    bump(this.tenants, clientKey, 1);
    bump(this.users, user, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      bump(this.tenants, clientKey, -1);
      bump(this.users, user, -1);
    };
  }
}
