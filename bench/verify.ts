/**
 * Verification benchmark: `attest verify FILE` over an N-row CSV export, against node:crypto's raw SHA-256
 * rate over the same bytes (one streamed hash of the file) and csv-parse alone over the same file.
 *
 *   npx tsx bench/verify.ts [N]            generates N events (default 1,000,000) and exports them first
 *   npx tsx bench/verify.ts --file F.csv   uses an existing export (e.g. BENCH_KEEP from bench/export.ts)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse';
import { loadConfig } from '../src/config';
import { ATTEST_BIN, benchDatabase, checkpointAt, generateChain, measure } from './export-fixture';

const TENANT = 'bench-tenant';

async function exportFixture(n: number): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const bench = await benchDatabase('bench-verify');
  await generateChain(bench.db, TENANT, n, (done) => {
    if (done % 100_000 === 0 || done === n) process.stderr.write(`\rgenerating ${done}/${n}`);
  });
  process.stderr.write('\n');
  const file = path.join(os.tmpdir(), `attest-bench-verify-${process.pid}.csv`);
  const env = { ...process.env, DATABASE_URL: bench.url, DATA_DIR: path.join(bench.dir, 'data'), NODE_ENV: 'development', DEVHOST: 'off' };
  // As in production, the scheduler signed a checkpoint minutes before: the export re-hashes the rows since.
  await checkpointAt(bench.db, TENANT, Math.max(1, n - 1000), loadConfig(env).signingKey);
  const ex = await measure(process.execPath, [ATTEST_BIN, 'export', '--client-key', TENANT, '-o', file], { env });
  if (ex.code !== 0) throw new Error(ex.stderr);
  await bench.close();
  return { file, cleanup: async () => fs.rmSync(file, { force: true }) };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function main(): Promise<void> {
  const fileArg = process.argv.indexOf('--file');
  const fixture = fileArg > 0 ? { file: process.argv[fileArg + 1], cleanup: async () => undefined } : await exportFixture(Number(process.argv[2] ?? 1_000_000));
  try {
    const { file } = fixture;
    const bytes = fs.statSync(file).size;
    const verify = await measure(process.execPath, [ATTEST_BIN, 'verify', file], { env: { ...process.env, DEVHOST: 'off' } });
    if (verify.code !== 0) throw new Error(`verify failed: ${verify.stdout}${verify.stderr}`);
    const rows = Number(/, (\d+) rows/.exec(verify.stdout)![1]);
    const sha = await timed(async () => {
      const h = createHash('sha256');
      for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 16 })) h.update(c as Buffer);
      h.digest();
    });
    let parsed = 0;
    const csv = await timed(async () => {
      for await (const _ of fs.createReadStream(file, { highWaterMark: 1 << 16 }).pipe(parse({ relax_column_count: true }))) parsed++;
    });
    const mb = bytes / 2 ** 20;
    console.log(`\nVerification of ${rows.toLocaleString('en')} rows, ${mb.toFixed(0)} MB CSV (same file, same run)\n`);
    console.log('| run | seconds | rows/s | MB/s | peak RSS MB | vs raw SHA-256 |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const line = (name: string, s: number, rss: string) =>
      console.log(`| ${name} | ${s.toFixed(2)} | ${Math.round(rows / s).toLocaleString('en')} | ${(mb / s).toFixed(0)} | ${rss} | ${(s / sha).toFixed(1)}× slower |`);
    line('node:crypto SHA-256, one stream over the file', sha, '–');
    line('csv-parse alone (no checks)', csv, '–');
    line('attest verify FILE (CLI, incl. ~1 s tsx start)', verify.seconds, verify.peakRssMb.toFixed(0));
    if (parsed !== rows + 1) throw new Error(`csv-parse saw ${parsed} records, expected ${rows + 1}`);
  } finally {
    await fixture.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
