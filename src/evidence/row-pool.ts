/**
 * Worker threads for the rows' own checks (issue 15): everything per chain.txt line or CSV record but the link
 * to the row before is independent, so batches go round-robin to the workers and come back in order for the sequential
 * checks. The CLI runs TypeScript through tsx (bin/attest.js), so each worker registers tsx the same way.
 */
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChainBatchResult } from './chain-batch';
import type { CsvBatchResult } from './csv-batch';
import type { RowConfig } from './row-checks';

/** A batch for a worker: chain.txt lines (and the width of the CSV they derive), or CSV records. */
export type WorkerTask = { kind: 'chain'; text: string; cfg: RowConfig; csvWidth: number } | { kind: 'csv'; text: string; cfg: RowConfig };
type Answer<T extends WorkerTask> = T extends { kind: 'chain' } ? ChainBatchResult : CsvBatchResult;

const WORKER = path.join(__dirname, 'verify-worker.ts');
/** Resolved here: code a worker evaluates resolves modules from the working directory, which may be anywhere. */
const TSX = require.resolve('tsx/cjs/api');
/** Below this much chain.txt, starting workers (~0.2 s each with tsx) costs more than it saves. */
export const WORKERS_FROM_BYTES = 16 << 20;

/**
 * Workers for a file of `bytes`: the number asked for; else none for a small file, and for a large one one per
 * core but one (at most 3) from 4 cores up. On 2 cores the workers cost more than they bring: each starts tsx
 * and holds its own ~50 MB, the main thread still needs a core to inflate, split and link, and on a shared
 * machine they took longer than the main thread alone (bench/README.md, "Verify").
 */
export function workersFor(bytes: number, asked: number | undefined): number {
  if (asked !== undefined) return asked;
  const cores = os.availableParallelism();
  if (bytes < WORKERS_FROM_BYTES || cores < 4) return 0;
  return Math.min(3, cores - 1);
}

type Pending = { resolve: (r: ChainBatchResult | CsvBatchResult) => void; reject: (e: Error) => void };

export class RowPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Pending[][] = [];
  private next = 0;
  private failed: Error | null = null;

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(`require(${JSON.stringify(TSX)}).register(); require(${JSON.stringify(WORKER)});`, { eval: true });
      const queue: Pending[] = [];
      w.on('message', (r: ChainBatchResult | CsvBatchResult) => queue.shift()?.resolve(r));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => code !== 0 && this.fail(new Error(`a verifier worker stopped (exit code ${code})`)));
      this.workers.push(w);
      this.pending.push(queue);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Checks a batch in the next worker; results of successive calls resolve in call order per worker. */
  run<T extends WorkerTask>(task: T): Promise<Answer<T>> {
    if (this.failed) return Promise.reject(this.failed);
    const i = this.next++ % this.workers.length;
    return new Promise((resolve, reject) => {
      this.pending[i].push({ resolve: resolve as Pending['resolve'], reject });
      this.workers[i].postMessage(task);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const q of this.pending) for (const p of q.splice(0)) p.reject(err);
  }
}
