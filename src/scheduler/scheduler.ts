import { randomUUID } from 'node:crypto';
import cron, { ScheduledTask } from 'node-cron';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { Transactional } from '../lib/transactional';
import type { JobLeadership, JobRuns } from './scheduler-store';

export interface Job {
  name: string;
  /** node-cron expression (UTC). */
  schedule: string;
  /** One tick's work; `tick` is the scheduled time and the "now" of the work. Returns counts for the run record. */
  run(tick: Date): Promise<Record<string, number>>;
}

export type RunResult =
  | { ran: true; outcome: 'ok' | 'failed'; counts: Record<string, number>; error: string | null }
  | { ran: false; reason: 'locked' | 'already-run' | 'unknown-job' };

/**
 * Runs each job once per tick across every instance: the job's PostgreSQL advisory lock (held while
 * it runs) keeps two instances from running it at once, and the unique (job, tick) row in job_runs
 * keeps a second instance from running the same tick afterwards. If the instance holding the lock
 * dies, its connection's lock goes with it and the next tick runs wherever it fires first.
 * node-cron only calls `runDue`; tests call it directly with chosen ticks.
 */
export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();
  readonly instance: string;

  constructor(
    private readonly deps: { leadership: Transactional<JobLeadership>; store: JobRuns; jobs: Job[]; clock: Clock; logger: Logger; instance?: string },
  ) {
    for (const job of deps.jobs) this.jobs.set(job.name, job);
    this.instance = deps.instance ?? `${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  get jobNames(): string[] {
    return [...this.jobs.keys()];
  }

  async runDue(jobName: string, tick: Date): Promise<RunResult> {
    const job = this.jobs.get(jobName);
    if (!job) return { ran: false, reason: 'unknown-job' };
    const log = this.deps.logger.child({ job: jobName, tick: tick.toISOString(), instance: this.instance });
    return this.deps.leadership.transaction(async (lock) => {
      if (!(await lock.tryLockJob(jobName))) {
        log.debug('job tick skipped: another instance is running it');
        return { ran: false, reason: 'locked' } as const;
      }
      if (!(await this.deps.store.claimTick(jobName, tick, this.instance, this.deps.clock.now()))) {
        log.debug('job tick skipped: already run');
        return { ran: false, reason: 'already-run' } as const;
      }
      log.info('job started');
      let outcome: 'ok' | 'failed' = 'ok';
      let counts: Record<string, number> = {};
      let error: string | null = null;
      try {
        counts = await job.run(tick);
      } catch (err) {
        outcome = 'failed';
        error = (err as Error).message ?? String(err);
        log.error({ err }, 'job failed');
      }
      await this.deps.store.finish(jobName, tick, { outcome, counts, error, finishedAt: this.deps.clock.now() });
      log.info({ outcome, counts }, 'job finished');
      return { ran: true, outcome, counts, error } as const;
    });
  }

  /** Schedules every job with node-cron (UTC); each firing runs the tick of that minute. */
  start(): void {
    for (const job of this.jobs.values()) {
      const task = cron.schedule(
        job.schedule,
        () => {
          const now = this.deps.clock.now();
          const tick = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
          const p = this.runDue(job.name, tick).catch((err) => this.deps.logger.error({ err, job: job.name }, 'job tick failed'));
          this.running.add(p);
          void p.finally(() => this.running.delete(p));
        },
        { timezone: 'UTC', noOverlap: true, name: `attest-${job.name}` },
      );
      this.tasks.push(task);
    }
    this.deps.logger.info({ jobs: this.jobNames, instance: this.instance }, 'scheduler started');
  }

  /** Stops scheduling and waits for runs in progress. */
  async stop(): Promise<void> {
    for (const t of this.tasks.splice(0)) await t.stop();
    await Promise.all([...this.running]);
  }
}
