import type { Knex } from 'knex';
import { withTransactional } from '../db/transactional';
import type { Transactional } from '../lib/transactional';

const JOB_RUNS = 'job_runs';
const TENANTS = 'tenants';

/** The run records of jobs (committed at once, outside the leadership transaction). */
export interface JobRuns {
  /** Claims the tick; false when it was claimed before. */
  claimTick(job: string, tick: Date, instance: string, startedAt: Date): Promise<boolean>;
  finish(job: string, tick: Date, run: { outcome: 'ok' | 'failed'; counts: Record<string, number>; error: string | null; finishedAt: Date }): Promise<void>;
}

/** Inside the transaction a job runs in: its lock, held until the transaction ends. */
export interface JobLeadership {
  /** Takes the job's lock for the rest of the transaction; false when another instance holds it. */
  tryLockJob(job: string): Promise<boolean>;
}

/** Job leadership and run records. Not per tenant: a tick of a job runs once for every tenant. */
export class SchedulerStore implements JobRuns {
  constructor(private readonly db: Knex) {}

  /**
   * Takes the job's advisory lock for the rest of `trx` (released at commit, rollback, or when the
   * connection dies with its instance); false when another instance holds it.
   */
  async tryLockJob(job: string, trx: Knex.Transaction): Promise<boolean> {
    const { rows } = await trx.raw('select pg_try_advisory_xact_lock(hashtextextended(?, 0)) as locked', [`attest:job:${job}`]);
    return rows[0].locked === true;
  }

  /** Claims the tick (committed at once, outside any transaction); false when it was claimed before. */
  async claimTick(job: string, tick: Date, instance: string, startedAt: Date): Promise<boolean> {
    const rows = await this.db(JOB_RUNS)
      .insert({ job, tick, instance, started_at: startedAt, outcome: 'running' })
      .onConflict(['job', 'tick'])
      .ignore()
      .returning('job');
    return rows.length === 1;
  }

  async finish(job: string, tick: Date, run: { outcome: 'ok' | 'failed'; counts: Record<string, number>; error: string | null; finishedAt: Date }): Promise<void> {
    await this.db(JOB_RUNS)
      .where({ job, tick })
      .update({ outcome: run.outcome, counts: JSON.stringify(run.counts), error: run.error, finished_at: run.finishedAt });
  }

  /** Tenants the scheduled duties serve. */
  async installedTenants(): Promise<string[]> {
    const rows: Array<{ client_key: string }> = await this.db(TENANTS).where({ state: 'installed' }).orderBy('client_key').select('client_key');
    return rows.map((r) => r.client_key);
  }
}

/** Transactions whose work holds (or is refused) a job's advisory lock: a job runs inside one. */
export function jobLeadership(db: Knex, store: SchedulerStore): Transactional<JobLeadership> {
  return withTransactional(db, (trx) => ({ tryLockJob: (job: string) => store.tryLockJob(job, trx) }));
}
