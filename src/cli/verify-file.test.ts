import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packInWorkers } from './verify-file';
import { WORKERS_FROM_BYTES } from '../evidence/row-pool';

describe('packInWorkers: the verifications that run without incremental marking', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-pack-in-workers-'));
  /** A file of `bytes` that starts as `head` does (only its first bytes and its size are read). */
  const file = (name: string, head: string, bytes: number) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, head);
    fs.truncateSync(p, bytes);
    return p;
  };
  const zip = 'PK\x03\x04';
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is a zip checked in workers: asked for, or by default from the workers\' size on (where there are 2 cores)', async () => {
    expect(await packInWorkers(file('small.zip', zip, 1000), false, 2)).toBe(true);
    expect(await packInWorkers(file('small.zip', zip, 1000), false, undefined)).toBe(false);
    const large = file('large.zip', zip, WORKERS_FROM_BYTES);
    expect(await packInWorkers(large, false, undefined)).toBe(os.availableParallelism() >= 2);
  });

  it('is not a CSV, a pack checked through its events.csv (--csv), nor --threads 0', async () => {
    expect(await packInWorkers(file('big.csv', 'seq,leaf_hash\r\n', WORKERS_FROM_BYTES), false, 2)).toBe(false);
    expect(await packInWorkers(file('csv.zip', zip, WORKERS_FROM_BYTES), true, 2)).toBe(false);
    expect(await packInWorkers(file('none.zip', zip, WORKERS_FROM_BYTES), false, 0)).toBe(false);
  });

  it('does not read a pipe (a pack cannot come through one), so a FIFO nobody writes to is not waited for', async () => {
    const fifo = path.join(dir, 'export.zip');
    execFileSync('mkfifo', [fifo]);
    expect(await packInWorkers(fifo, false, 2)).toBe(false);
  });
});
