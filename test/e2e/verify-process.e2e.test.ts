import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../helpers/wait-for';

const BIN = path.resolve(__dirname, '../../bin/attest.js');

/** Pids of the processes whose command line names `file` (Linux /proc). */
function processesNaming(file: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(file)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('attest verify FILE, which runs the verifier in a node of its own (bin/attest.js)', () => {
  jest.setTimeout(30_000);

  it.each(['SIGTERM', 'SIGINT'] as const)('starts the verifier with its GC flag, stops it when the command is stopped (%s), and dies of the same signal', async (signal) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-verify-process-'));
    const fifo = path.join(dir, 'export.csv');
    execFileSync('mkfifo', [fifo]);
    // Nothing ever opens the FIFO for writing, so the verifier waits in open() until it is stopped.
    const cmd = spawn(process.execPath, [BIN, 'verify', fifo], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '', DEVHOST: 'off' } });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cmd.on('exit', (code, sig) => resolve({ code, signal: sig })));
    try {
      expect(await waitFor(() => processesNaming(fifo).some((pid) => pid !== cmd.pid), 10_000)).toBe(true);
      // The verifier's node runs with the GC flag bin/attest.js gives it (bench/README.md "Verify").
      const verifier = processesNaming(fifo).find((pid) => pid !== cmd.pid)!;
      expect(fs.readFileSync(`/proc/${verifier}/cmdline`, 'utf8').split('\0')).toContain('--single-threaded-gc');
      await new Promise((r) => setTimeout(r, 300));
      cmd.kill(signal);
      expect(await exited).toEqual({ code: null, signal });
      expect(await waitFor(() => processesNaming(fifo).length === 0, 5_000)).toBe(true);
    } finally {
      for (const pid of processesNaming(fifo)) process.kill(pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
