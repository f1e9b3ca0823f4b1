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
import type { RowRun } from './row-runs';

/**
 * A batch for a worker: chain.txt lines (and the width of the CSV they derive), or CSV records, as the file's
 * UTF-8 bytes cut at a line or record end (so at no character's middle). Bytes, not text: the main thread
 * neither decodes them nor copies a string to the worker (a UTF-16 copy of the batch), which kept it the
 * bottleneck while the workers waited.
 */
export type WorkerTask = { kind: 'chain'; bytes: Uint8Array; cfg: RowConfig; csvWidth: number } | { kind: 'csv'; bytes: Uint8Array; cfg: RowConfig };
/** A batch's facts after its first come back as one run (row-runs.ts) when they make one. */
type Answer<T extends WorkerTask> = (T extends { kind: 'chain' } ? ChainBatchResult : CsvBatchResult) & { run?: RowRun };

const WORKER = path.join(__dirname, 'verify-worker.ts');
/** Resolved here: code a worker evaluates resolves modules from the working directory, which may be anywhere. */
const TSX = require.resolve('tsx/cjs/api');
/** Below this much chain.txt, starting workers (~0.2 s each with tsx) costs more than it saves. */
export const WORKERS_FROM_BYTES = 16 << 20;

/**
 * Workers for a file of `bytes`: the number asked for; else none for a small file (or on one core), and for a
 * large one one per core but one, at least 2 and at most 3. On 2 cores that is 2 workers beside the main thread,
 * which only reads, inflates and cuts the file's bytes at line or record ends: in alternating runs on the 2-core
 * VM (199k events, bench/README.md "Verify, bytes to the workers") 2 workers took 5–35 % off the main thread
 * alone, for ~100 MB more (each worker starts tsx and holds its own V8 heap); `--threads 0` keeps the memory low.
 */
export function workersFor(bytes: number, asked: number | undefined): number {
  if (asked !== undefined) return asked;
  const cores = os.availableParallelism();
  if (bytes < WORKERS_FROM_BYTES || cores < 2) return 0;
  return Math.min(3, Math.max(2, cores - 1));
}

type Pending = { resolve: (r: ChainBatchResult | CsvBatchResult) => void; reject: (e: Error) => void };

export class RowPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Pending[][] = [];
  private next = 0;
  private failed: Error | null = null;

  /** `watch`: the seqs the checker watches (EvidenceChecker.watchedSeqs), whose chain hashes a batch's run carries. */
  constructor(n: number, watch: readonly number[] = []) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(`require(${JSON.stringify(TSX)}).register(); require(${JSON.stringify(WORKER)});`, { eval: true, workerData: { watch } });
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
      // The batch's bytes copied into a buffer of their own, which is handed over, not cloned: the caller's view
      // may be part of a larger chunk that cloning would copy whole, and the caller keeps its view.
      const bytes = new Uint8Array(task.bytes);
      this.workers[i].postMessage({ ...task, bytes }, [bytes.buffer]);
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
