/** A worker thread of the verifier (row-pool.ts): checks batches of chain.txt lines or CSV records on their own. */
import { parentPort } from 'node:worker_threads';
import { checkChainBatch, textOfBytes } from './chain-batch';
import { checkCsvBatch } from './csv-batch';
import type { WorkerTask } from './row-pool';

parentPort!.on('message', (m: WorkerTask) => {
  if (m.kind === 'csv') {
    parentPort!.postMessage(checkCsvBatch(textOfBytes(m.bytes), m.cfg));
    return;
  }
  const r = checkChainBatch(m.bytes, m.cfg, m.csvWidth);
  parentPort!.postMessage(r, [r.csv.buffer as ArrayBuffer]);
});
