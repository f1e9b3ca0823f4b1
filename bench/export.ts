/**
 * Export benchmark: `attest export` (CSV and zip pack) of N events against psql's `\copy … to stdout with csv`
 * of the same rows and columns computed in SQL. Wall time and peak RSS of each client process, and the peak of
 * an export of 1,000 events of another tenant on the same database (flat memory: the peak must not grow with N).
 * Goals (issue 15): CSV time ≤ 1.2× psql, peak RSS ≤ 120 MB. Ends with one JSON line of the figures.
 * `attest` runs as an operator runs it (`npx attest`): the executable itself, so its shebang's node flags apply.
 *
 *   npx tsx bench/export.ts [N]          (default 1,000,000; DATABASE_URL or an embedded PostgreSQL)
 *   BENCH_KEEP=/tmp/1m.csv BENCH_KEEP_PACK=/tmp/1m.zip …   keep the exports for bench/verify.ts --file … --pack …
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { ATTEST_BIN, benchDatabase, checkpointAt, generateChain, measure } from './export-fixture';

const N = Number(process.argv[2] ?? process.env.BENCH_ROWS ?? 1_000_000);
const TENANT = 'bench-tenant';
const SMALL_TENANT = 'bench-small';

const PSQL_QUERY = `select e.seq,
  to_char(e.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), e.action, e.space_key, e.page_id,
  e.canonical::jsonb #>> '{page,title}', e.canonical::jsonb #>> '{page,version}', e.workflow_id, e.actor_ref,
  s.account_id, encode(s.salt, 'hex'), e.canonical::jsonb #>> '{data,decision}', e.canonical::jsonb #>> '{data,comment}',
  e.canonical, encode(e.leaf_hash, 'hex'),
  encode(coalesce(lag(e.chain_hash) over (order by e.seq), sha256(convert_to(E'attest-audit-v1\\n' || e.client_key, 'UTF8'))), 'hex'),
  encode(e.chain_hash, 'hex'),
  case when e.canonical::jsonb ->> 'workflow' is not null then e.canonical::jsonb #>> '{data,workflowTitle}' end
from audit_events e left join audit_subjects s on s.client_key = e.client_key and s.ref = e.actor_ref
where e.client_key = '${TENANT}' order by e.seq`;

async function main(): Promise<void> {
  const bench = await benchDatabase('bench-export');
  try {
    const t0 = Date.now();
    await generateChain(bench.db, TENANT, N, (done) => {
      if (done % 100_000 === 0 || done === N) process.stderr.write(`\rgenerating ${done}/${N}`);
    });
    await generateChain(bench.db, SMALL_TENANT, 1000);
    process.stderr.write(`\rgenerated ${N} events in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await bench.db.raw('vacuum analyze audit_events');
    const env = {
      ...process.env,
      DATABASE_URL: bench.url,
      DATA_DIR: path.join(bench.dir, 'data'),
      NODE_ENV: 'development',
      DEVHOST: 'off',
      LOG_LEVEL: 'warn',
    };
    // The server's checkpoint job signed (and witnessed) the head; the operator's CLI signs nothing itself.
    await checkpointAt(bench.db, TENANT, N, loadConfig(env).signingKey);
    await checkpointAt(bench.db, SMALL_TENANT, 1000, loadConfig(env).signingKey);
    const csv = path.join(bench.dir, 'export.csv');
    const zip = path.join(bench.dir, 'export.zip');
    const copy = path.join(bench.dir, 'copy.csv');
    // psql first and last would favour nobody: warm the cache once, then measure each.
    await measure('/usr/bin/psql', [bench.url, '-X', '-q', '-c', `\\copy (${PSQL_QUERY}) to stdout with csv header`], { env, stdoutFile: copy });
    const psql = await measure('/usr/bin/psql', [bench.url, '-X', '-q', '-c', `\\copy (${PSQL_QUERY}) to stdout with csv header`], { env, stdoutFile: copy });
    const exCsv = await measure(ATTEST_BIN, ['export', '--client-key', TENANT, '-o', csv], { env });
    const exZip = await measure(ATTEST_BIN, ['export', '--client-key', TENANT, '--format', 'zip', '-o', zip], { env });
    const smallCsv = await measure(ATTEST_BIN, ['export', '--client-key', SMALL_TENANT, '-o', path.join(bench.dir, 'small.csv')], { env });
    const smallZip = await measure(ATTEST_BIN, ['export', '--client-key', SMALL_TENANT, '-o', path.join(bench.dir, 'small.zip')], { env });
    for (const m of [psql, exCsv, exZip, smallCsv, smallZip]) if (m.code !== 0) throw new Error(`a run failed: ${m.stderr}`);
    const mb = (f: string) => fs.statSync(f).size / 2 ** 20;
    const rows = [
      ['psql \\copy … with csv', psql, mb(copy)],
      ['attest export (csv)', exCsv, mb(csv)],
      ['attest export (zip pack)', exZip, mb(zip)],
    ] as const;
    console.log(`\nExport of ${N.toLocaleString('en')} events (client processes; same machine, same run)\n`);
    console.log('| run | seconds | rows/s | peak RSS MB | output MB | time vs psql | RSS vs psql |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, m, size] of rows) {
      console.log(
        `| ${name} | ${m.seconds.toFixed(2)} | ${Math.round(N / m.seconds).toLocaleString('en')} | ${m.peakRssMb.toFixed(0)} | ${size.toFixed(0)} | ${(m.seconds / psql.seconds).toFixed(2)}× | ${(m.peakRssMb / psql.peakRssMb).toFixed(1)}× |`,
      );
    }
    console.log(`\nPeak RSS of an export of 1,000 events on the same database: csv ${smallCsv.peakRssMb.toFixed(0)} MB, zip ${smallZip.peakRssMb.toFixed(0)} MB.`);
    const r2 = (x: number) => Number(x.toFixed(2));
    const figures = {
      bench: 'export',
      events: N,
      psqlSeconds: r2(psql.seconds),
      csvSeconds: r2(exCsv.seconds),
      csvVsPsql: r2(exCsv.seconds / psql.seconds),
      csvTimeGoalMet: exCsv.seconds <= 1.2 * psql.seconds,
      zipSeconds: r2(exZip.seconds),
      zipVsPsql: r2(exZip.seconds / psql.seconds),
      csvPeakRssMb: Math.round(exCsv.peakRssMb),
      zipPeakRssMb: Math.round(exZip.peakRssMb),
      csvPeakRssMbAt1k: Math.round(smallCsv.peakRssMb),
      zipPeakRssMbAt1k: Math.round(smallZip.peakRssMb),
      rssGoalMet: exCsv.peakRssMb <= 120 && exZip.peakRssMb <= 120,
      psqlPeakRssMb: Math.round(psql.peakRssMb),
      // CPU of each client process (psql does its work in the server; ours is in Node): for runs on shared cores.
      psqlCpuSeconds: r2(psql.cpuSeconds),
      csvCpuSeconds: r2(exCsv.cpuSeconds),
      zipCpuSeconds: r2(exZip.cpuSeconds),
    };
    if (process.env.BENCH_KEEP) {
      fs.copyFileSync(csv, process.env.BENCH_KEEP);
      console.log(`\nkept the CSV export at ${process.env.BENCH_KEEP}`);
    }
    if (process.env.BENCH_KEEP_PACK) {
      fs.copyFileSync(zip, process.env.BENCH_KEEP_PACK);
      console.log(`kept the pack at ${process.env.BENCH_KEEP_PACK}`);
    }
    console.log(`\n${JSON.stringify(figures)}`);
  } finally {
    await bench.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
