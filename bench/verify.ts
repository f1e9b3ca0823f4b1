/**
 * Verification benchmark (issue 15): `attest verify` of an N-event evidence pack (read through chain.txt, with the
 * default worker threads — 2 from 2 cores — and with `--threads 0`) and of the same export as a bare CSV (the same two ways), against node:crypto's SHA-256 over the same bytes (one
 * streamed hash of each file) and csv-parse alone over the CSV. Goals: the pack ≥ 100k events/s, the CSV
 * ≥ 50k rows/s. Ends with one JSON line of the figures.
 *
 *   npx tsx bench/verify.ts [N]                      generates N events (default 1,000,000) and exports them
 *   npx tsx bench/verify.ts --file F.csv [--pack F.zip]   uses existing exports of the same chain (BENCH_KEEP=1 keeps them)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse';
import { loadConfig } from '../src/config';
import { ATTEST_BIN, benchDatabase, checkpointAt, generateChain, measure, Measured } from './export-fixture';

const TENANT = 'bench-tenant';

async function exportFixture(n: number): Promise<{ csv: string; pack: string; cleanup: () => Promise<void> }> {
  const bench = await benchDatabase('bench-verify');
  try {
    await generateChain(bench.db, TENANT, n, (done) => {
      if (done % 100_000 === 0 || done === n) process.stderr.write(`\rgenerating ${done}/${n}`);
    });
    process.stderr.write('\n');
    const base = path.join(os.tmpdir(), `attest-bench-verify-${process.pid}`);
    const env = { ...process.env, DATABASE_URL: bench.url, DATA_DIR: path.join(bench.dir, 'data'), NODE_ENV: 'development', DEVHOST: 'off' };
    const { signingKey } = loadConfig(env);
    // As in production, the scheduler signed a checkpoint minutes before: the export re-hashes the rows since.
    await checkpointAt(bench.db, TENANT, Math.max(1, n - 1000), signingKey);
    // The pack's manifest is signed as the app signs it (the operator's CLI with the signing key).
    const keyed = { ...env, ATTEST_SIGNING_KEY: signingKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
    for (const [file, fmt] of [[`${base}.csv`, 'csv'], [`${base}.zip`, 'zip']]) {
      const ex = await measure(ATTEST_BIN, ['export', '--client-key', TENANT, '--format', fmt, '-o', file], { env: keyed });
      if (ex.code !== 0) throw new Error(ex.stderr);
    }
    // BENCH_KEEP=1 leaves both files for `--file … --pack …` runs.
    const cleanup = async () => (process.env.BENCH_KEEP ? console.log(`kept ${base}.csv and ${base}.zip`) : ['csv', 'zip'].forEach((x) => fs.rmSync(`${base}.${x}`, { force: true })));
    return { csv: `${base}.csv`, pack: `${base}.zip`, cleanup };
  } finally {
    await bench.close();
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const sha256Of = (file: string) =>
  timed(async () => {
    const h = createHash('sha256');
    for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 16 })) h.update(c as Buffer);
    h.digest();
  });

function verified(m: Measured, what: string): number {
  if (m.code !== 0) throw new Error(`verify ${what} failed: ${m.stdout}${m.stderr}`);
  return Number(/, (\d+) rows/.exec(m.stdout)![1]);
}

async function main(): Promise<void> {
  const arg = (name: string) => (process.argv.indexOf(name) > 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const given = arg('--file');
  const fixture = given ? { csv: given, pack: arg('--pack'), cleanup: async () => undefined } : await exportFixture(Number(process.argv[2] ?? process.env.BENCH_ROWS ?? 1_000_000));
  try {
    const env = { ...process.env, DEVHOST: 'off' };
    const pack = fixture.pack
      ? await measure(ATTEST_BIN, ['verify', fixture.pack, '--trust-pack-key'], { env })
      : null;
    const pack2 = fixture.pack
      ? await measure(ATTEST_BIN, ['verify', fixture.pack, '--trust-pack-key', '--threads', '0'], { env })
      : null;
    const csv = await measure(ATTEST_BIN, ['verify', fixture.csv], { env });
    const csv2 = await measure(ATTEST_BIN, ['verify', fixture.csv, '--threads', '0'], { env });
    const rows = verified(csv, 'CSV');
    if (pack && verified(pack, 'pack') !== rows) throw new Error('the pack and the CSV hold different rows');
    if (pack2 && verified(pack2, 'pack --threads 0') !== rows) throw new Error('the pack and the CSV hold different rows');
    if (verified(csv2, 'CSV --threads 0') !== rows) throw new Error('the CSV read twice gave different rows');
    const shaCsv = await sha256Of(fixture.csv);
    const shaPack = fixture.pack ? await sha256Of(fixture.pack) : null;
    let parsed = 0;
    const csvParse = await timed(async () => {
      for await (const _ of fs.createReadStream(fixture.csv, { highWaterMark: 1 << 16 }).pipe(parse({ relax_column_count: true }))) parsed++;
    });
    if (parsed !== rows + 1) throw new Error(`csv-parse saw ${parsed} records, expected ${rows + 1}`);
    const mb = (f: string) => fs.statSync(f).size / 2 ** 20;
    console.log(`\nVerification of ${rows.toLocaleString('en')} events: CSV ${mb(fixture.csv).toFixed(0)} MB${fixture.pack ? `, pack ${mb(fixture.pack).toFixed(0)} MB` : ''} (same chain, same run)\n`);
    console.log('| run | seconds | events/s | CPU s (events per CPU-s) | peak RSS MB | vs SHA-256 of the same file |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const line = (name: string, s: number, rss: string, base: number, cpu?: number) =>
      console.log(
        `| ${name} | ${s.toFixed(2)} | ${Math.round(rows / s).toLocaleString('en')} | ${cpu === undefined ? '–' : `${cpu.toFixed(1)} (${Math.round(rows / cpu).toLocaleString('en')})`} | ${rss} | ${(s / base).toFixed(1)}× the time |`,
      );
    if (pack && shaPack !== null) {
      line('node:crypto SHA-256 over the pack (zip)', shaPack, '–', shaPack);
      line('attest verify PACK.zip (chain.txt, default workers; CLI incl. tsx start)', pack.seconds, pack.peakRssMb.toFixed(0), shaPack, pack.cpuSeconds);
      if (pack2) line('attest verify PACK.zip --threads 0 (main thread alone)', pack2.seconds, pack2.peakRssMb.toFixed(0), shaPack, pack2.cpuSeconds);
    }
    line('node:crypto SHA-256 over the CSV', shaCsv, '–', shaCsv);
    line('csv-parse alone (no checks)', csvParse, '–', shaCsv);
    line('attest verify FILE.csv (default workers; CLI incl. tsx start)', csv.seconds, csv.peakRssMb.toFixed(0), shaCsv, csv.cpuSeconds);
    line('attest verify FILE.csv --threads 0 (main thread alone)', csv2.seconds, csv2.peakRssMb.toFixed(0), shaCsv, csv2.cpuSeconds);
    const rate = (s: number) => Math.round(rows / s);
    const figures = {
      bench: 'verify',
      loadAverage: os.loadavg()[0],
      cores: os.availableParallelism(),
      events: rows,
      packEventsPerSec: pack ? rate(pack.seconds) : null,
      packGoalMet: pack ? rate(pack.seconds) >= 100_000 : null,
      packVsSha256: pack && shaPack ? Number((pack.seconds / shaPack).toFixed(2)) : null,
      packPeakRssMb: pack ? Math.round(pack.peakRssMb) : null,
      packEventsPerCpuSec: pack ? Math.round(rows / pack.cpuSeconds) : null,
      packMainThreadEventsPerSec: pack2 ? rate(pack2.seconds) : null,
      packMainThreadPeakRssMb: pack2 ? Math.round(pack2.peakRssMb) : null,
      packMainThreadEventsPerCpuSec: pack2 ? Math.round(rows / pack2.cpuSeconds) : null,
      csvRowsPerSec: rate(csv.seconds),
      csvGoalMet: rate(csv.seconds) >= 50_000,
      csvVsSha256: Number((csv.seconds / shaCsv).toFixed(2)),
      csvPeakRssMb: Math.round(csv.peakRssMb),
      csvRowsPerCpuSec: Math.round(rows / csv.cpuSeconds),
      csvMainThreadRowsPerSec: rate(csv2.seconds),
      csvMainThreadPeakRssMb: Math.round(csv2.peakRssMb),
      sha256PackEventsPerSec: shaPack ? rate(shaPack) : null,
      sha256CsvRowsPerSec: rate(shaCsv),
      csvParseRowsPerSec: rate(csvParse),
    };
    console.log(`\n${JSON.stringify(figures)}`);
  } finally {
    await fixture.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
