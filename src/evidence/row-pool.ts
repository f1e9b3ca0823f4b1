/**
 * Worker threads for the rows' own checks (issue 15): everything per chain.txt line but the link to the line
 * before is independent, so batches go round-robin to the workers and come back in order for the sequential
 * checks. The CLI runs TypeScript through tsx (bin/attest.js), so each worker registers tsx the same way.
 */
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChainBatchResult } from './chain-batch';
import type { RowConfig } from './row-checks';

const WORKER = path.join(__dirname, 'verify-worker.ts');
/** Below this much chain.txt, starting workers (~0.2 s each with tsx) costs more than it saves. */
export const WORKERS_FROM_BYTES = 16 << 20;

/** Workers for a file of `bytes`: the number asked for, else one per core but one (1 to 3) for a large file, none for a small one. */
export function workersFor(bytes: number, asked: number | undefined): number {
  if (asked !== undefined) return asked;
  if (bytes < WORKERS_FROM_BYTES) return 0;
  return Math.min(3, Math.max(1, os.availableParallelism() - 1));
}

type Pending = { resolve: (r: ChainBatchResult) => void; reject: (e: Error) => void };

export class RowPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Pending[][] = [];
  private next = 0;
  private failed: Error | null = null;

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(WORKER)});`, { eval: true });
      const queue: Pending[] = [];
      w.on('message', (r: ChainBatchResult) => queue.shift()?.resolve(r));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => code !== 0 && this.fail(new Error(`a verifier worker stopped (exit code ${code})`)));
      this.workers.push(w);
      this.pending.push(queue);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Checks `text` (whole lines) in the next worker; results of successive calls resolve in call order per worker. */
  run(text: string, cfg: RowConfig, csvWidth: number): Promise<ChainBatchResult> {
    if (this.failed) return Promise.reject(this.failed);
    const i = this.next++ % this.workers.length;
    return new Promise((resolve, reject) => {
      this.pending[i].push({ resolve, reject });
      this.workers[i].postMessage({ text, cfg, csvWidth });
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
