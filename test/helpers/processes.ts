import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/db/embedded-postgres';

export const ROOT = path.resolve(__dirname, '../..');

export interface ServerProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
}

/** `src/server.ts` as `npm start` runs it, with only PATH, HOME and `env` in its environment. */
export function startServerProcess(env: Record<string, string>): ServerProcess {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

/**
 * Runs `script` (CommonJS, with tsx registered so that it can require src/*.ts) in a child process that prints
 * one URL line once its server is up and stops it when its stdin ends. jest cannot load the embedded-postgres ES
 * module itself, so embedded PostgreSQL servers of the tests run this way. Resolves with the URL and a stop.
 */
export function urlServerProcess(script: string, env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `require('tsx/cjs/api').register();\n${script}`], { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the embedded PostgreSQL did not start within 60 s'));
    }, 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ url: out.trim(), stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL process exited with ${code}`));
    });
  });
}

/**
 * A second instance of the add-on (`src/server.ts` in a child process) on the same database, data directory and
 * keys as a test app, without devhost or scheduler: resolves once its /readyz answers (at most 30 s).
 */
export async function startSecondInstance(app: { tdb: { url: string }; config: { dataDir: string } }): Promise<{ baseUrl: string; process: ServerProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const b = startServerProcess({
    NODE_ENV: 'development',
    PORT: String(port),
    AC_LOCAL_BASE_URL: baseUrl,
    DATABASE_URL: app.tdb.url,
    DATA_DIR: app.config.dataDir,
    DEVHOST: 'off',
    ATTEST_SCHEDULER: 'off',
    LOG_LEVEL: 'warn',
  });
  const stop = async () => {
    if (b.child.exitCode !== null) return;
    const exited = new Promise((r) => b.child.once('exit', r));
    b.child.kill('SIGTERM');
    const timer = setTimeout(() => b.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  let ready = false;
  for (let i = 0; i < 120 && !ready && b.child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ready = await fetch(`${baseUrl}/readyz`).then((r) => r.ok, () => false);
  }
  if (!ready) {
    await stop();
    throw new Error(`the second instance did not start:\n${b.output()}`);
  }
  return { baseUrl, process: b, stop };
}
