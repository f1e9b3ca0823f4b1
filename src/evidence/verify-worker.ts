/** A worker thread of the verifier (row-pool.ts): checks batches of chain.txt lines on their own (chain-batch.ts). */
import { parentPort } from 'node:worker_threads';
import { checkChainBatch } from './chain-batch';
import type { RowConfig } from './row-checks';

parentPort!.on('message', (m: { text: string; cfg: RowConfig; csvWidth: number }) => {
  const r = checkChainBatch(m.text, m.cfg, m.csvWidth);
  parentPort!.postMessage(r, [r.csv.buffer as ArrayBuffer]);
});
