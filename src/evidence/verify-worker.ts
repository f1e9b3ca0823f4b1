/** A worker thread of the verifier (row-pool.ts): checks batches of chain.txt lines or CSV records on their own. */
import { parentPort, workerData } from 'node:worker_threads';
import { checkChainBatch } from './chain-batch';
import { checkCsvBytes } from './csv-batch';
import type { WorkerTask } from './row-pool';
import { asRun } from './row-runs';

/** The seqs the checker watches (RowPool's `watch`). */
const watch = new Set<number>((workerData as { watch: number[] }).watch);

parentPort!.on('message', (m: WorkerTask) => {
  if (m.kind === 'csv') {
    parentPort!.postMessage(asRun(checkCsvBytes(m.bytes, m.cfg), m.cfg.filter, watch));
    return;
  }
  const r = asRun(checkChainBatch(m.bytes, m.cfg, m.csvWidth), m.cfg.filter, watch);
  parentPort!.postMessage(r, [r.csv.buffer as ArrayBuffer]);
});
