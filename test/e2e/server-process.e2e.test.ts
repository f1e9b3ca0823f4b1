import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded-postgres';
import { ROOT, startServerProcess } from '../helpers/processes';
import { tempDirs } from '../helpers/temp-dirs';

const procDirs = tempDirs('attest-proc-');
afterAll(() => procDirs.removeAll());

/**
 * The server as `npm start` runs it, as a separate process with its own embedded PostgreSQL in a fresh
 * DATA_DIR: it becomes ready, the devhost installs itself, and SIGTERM stops it cleanly within 10 s,
 * leaving no PostgreSQL behind. A bad setting stops it at once with one line naming the variable.
 */
const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null) resolve({ code: child.exitCode, signal: null });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

function postgresRunningIn(dir: string): boolean {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) return true;
    } catch {
      // the process ended while we looked
    }
  }
  return false;
}

describe('the server process', () => {
  it('starts on embedded PostgreSQL, installs the devhost, and stops cleanly on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-proc-'));
    fs.chmodSync(dataDir, 0o755);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { child, output } = startServerProcess({ PORT: String(port), DATA_DIR: dataDir, AC_LOCAL_BASE_URL: base, NODE_ENV: 'development' });
    try {
      let ready = false;
      for (let i = 0; i < 120 && !ready && child.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 500));
        ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      }
      expect(ready).toBe(true);
      expect(output()).toMatch(/"host":"127\.0\.0\.1","port":\d+,[^\n]*"msg":"Attest is listening"/);
      for (let i = 0; i < 40 && !output().includes('devhost: open'); i++) await new Promise((r) => setTimeout(r, 250));
      expect(output()).toContain('"msg":"installed"');
      const page = await fetch(`${base}/devhost`).then((r) => r.text());
      expect(page).toContain('/devhost/wiki/spaces/');
      expect(postgresRunningIn(dataDir)).toBe(true);

      // A macro rendered once (its iframe, as the devhost signed it) starts the tenant's audit chain.
      const pageLink = /href="(\/devhost\/wiki\/spaces\/[^"]+\/pages\/\d+)"/.exec(page)![1];
      const pageHtml = await fetch(`${base}${pageLink}`).then((r) => r.text());
      const iframe = /<iframe[^>]*src="([^"]+)"/.exec(pageHtml)![1].replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
      expect((await fetch(iframe)).status).toBe(200);

      // The attest CLI beside the running server uses its embedded PostgreSQL and leaves it running.
      const clientKey = /"clientKey":"([^"]+)","baseUrl":"[^"]*","reinstall":\w+,"msg":"installed"/.exec(output())![1];
      const cli = spawn(process.execPath, ['bin/attest.js', 'verify', '--db', '--client-key', clientKey], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, NODE_ENV: 'development' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let cliOut = '';
      cli.stdout!.on('data', (c: Buffer) => (cliOut += c.toString()));
      cli.stderr!.on('data', (c: Buffer) => (cliOut += c.toString()));
      expect([(await exited(cli)).code, cliOut]).toEqual([0, expect.stringContaining('ok:')]);
      expect(cliOut).toContain('ok:');
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      // A second server on the same DATA_DIR refuses instead of taking the database away.
      const second = startServerProcess({ PORT: String(await freePort()), DATA_DIR: dataDir, NODE_ENV: 'development' });
      expect((await exited(second.child)).code).toBe(1);
      expect(second.output()).toContain('in use by another process');
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      const t0 = Date.now();
      child.kill('SIGTERM');
      const { code } = await exited(child);
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(postgresRunningIn(dataDir)).toBe(false);
      // Nothing under DATA_DIR holds a JWT or a shared secret in the logs we printed.
      expect(output()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('stops at once with one line naming a bad variable', async () => {
    const { child, output } = startServerProcess({ PORT: 'nope', DATA_DIR: procDirs.make() });
    const { code } = await exited(child);
    expect(code).toBe(1);
    expect(output().trim()).toBe('attest: configuration error: PORT: must be a whole number from 0 to 65535, got "nope"');
  }, 30_000);

  it('refuses a NODE_ENV it does not know instead of running as development (devhost, generated keys)', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-proc-'));
    const { child, output } = startServerProcess({ NODE_ENV: 'Production', PORT: String(await freePort()), DATA_DIR: dataDir });
    const { code } = await exited(child);
    expect(code).toBe(1);
    expect(output().trim()).toMatch(/^attest: configuration error: NODE_ENV: must be one of development, test, production .*got "Production"$/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);
});
