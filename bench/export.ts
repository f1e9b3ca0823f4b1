/**
 * Export benchmark: `attest export` (CSV and zip pack) of N events against psql's `\copy … to stdout with csv`
 * of the same rows and columns computed in SQL. Wall time and peak RSS of each client process.
 *
 *   npx tsx bench/export.ts [N]          (default 1,000,000; DATABASE_URL or an embedded PostgreSQL)
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { ATTEST_BIN, benchDatabase, checkpointAt, generateChain, measure } from './export-fixture';

const N = Number(process.argv[2] ?? process.env.BENCH_ROWS ?? 1_000_000);
const TENANT = 'bench-tenant';

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
    const csv = path.join(bench.dir, 'export.csv');
    const zip = path.join(bench.dir, 'export.zip');
    const copy = path.join(bench.dir, 'copy.csv');
    // psql first and last would favour nobody: warm the cache once, then measure each.
    await measure('/usr/bin/psql', [bench.url, '-X', '-q', '-c', `\\copy (${PSQL_QUERY}) to stdout with csv header`], { env, stdoutFile: copy });
    const psql = await measure('/usr/bin/psql', [bench.url, '-X', '-q', '-c', `\\copy (${PSQL_QUERY}) to stdout with csv header`], { env, stdoutFile: copy });
    const exCsv = await measure(process.execPath, [ATTEST_BIN, 'export', '--client-key', TENANT, '-o', csv], { env });
    const exZip = await measure(process.execPath, [ATTEST_BIN, 'export', '--client-key', TENANT, '--format', 'zip', '-o', zip], { env });
    for (const m of [psql, exCsv, exZip]) if (m.code !== 0) throw new Error(`a run failed: ${m.stderr}`);
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
    if (process.env.BENCH_KEEP) {
      fs.copyFileSync(csv, process.env.BENCH_KEEP);
      console.log(`\nkept the CSV export at ${process.env.BENCH_KEEP}`);
    }
  } finally {
    await bench.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
