/** A worker thread of the verifier (row-pool.ts): checks batches of chain.txt lines or CSV records on their own. */
import { parentPort } from 'node:worker_threads';
import { checkChainBatch } from './chain-batch';
import { checkCsvBatch } from './csv-batch';
import type { WorkerTask } from './row-pool';

/** The batch's text: its bytes end a line or record, so they decode as the main thread's StringDecoder would. */
const textOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

parentPort!.on('message', (m: WorkerTask) => {
  if (m.kind === 'csv') {
    parentPort!.postMessage(checkCsvBatch(textOf(m.bytes), m.cfg));
    return;
  }
  const r = checkChainBatch(m.bytes, m.cfg, m.csvWidth);
  parentPort!.postMessage(r, [r.csv.buffer as ArrayBuffer]);
});
