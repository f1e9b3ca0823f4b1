import type { Knex } from 'knex';

const JOB_RUNS = 'job_runs';
const TENANTS = 'tenants';

/** Job leadership and run records. Not per tenant: a tick of a job runs once for every tenant. */
export class SchedulerStore {
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
