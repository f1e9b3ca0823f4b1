/**
 * The verifier's per-row work in this checkout against another (a worktree of an earlier commit), in one process:
 * each version's `checkChainBatch` (a pack's chain.txt) and its CSV check (events.csv) run alternately, batch by
 * batch, over the same rows of a pack. Whole `attest verify` runs vary ±10 % from one run to the next on a shared
 * 2-core machine, more than most changes to the per-row work; alternating batches in one process cancels that drift.
 *
 * The version loaded second in a process runs a few % slower whatever its code, so the bench runs twice, once in each
 * order. With r₁ = second/first in the run loading this checkout first and r₂ in the other, this checkout's CPU per row
 * against the base's is √(r₂/r₁), and the order's own effect √(r₁·r₂).
 *
 *   git worktree add /tmp/base <commit> && ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   npx tsx bench/verify-ab.ts --pack F.zip --base /tmp/base [--rows 300000]
 *
 * The pack: `BENCH_KEEP=1 npx tsx bench/verify.ts` keeps one. Ends with one JSON line of the figures.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { openLarge, openZip, zipEntries } from '../src/evidence/pack-zip';

const HERE = path.resolve(__dirname, '..');
const BATCH_BYTES = 1 << 16;
/** Columns of the pack's events.csv, read from its header. */
let width = 19;
const REPS = 5;

type Check = (batch: Buffer) => { facts: unknown[]; failAt: number };

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required (see the comment at the top of bench/verify-ab.ts)`);
  return v;
}

/**
 * A pack's entry from its start, cut into batches of whole lines or records (`cut`: where the last whole one in a
 * piece ends), until they hold `rows` line feeds (a CSV record holding a line break counts twice: only a bound).
 */
async function batchesOf(pack: string, name: string, rows: number, cut: (b: Buffer) => number): Promise<Buffer[]> {
  const zf = await openZip(pack);
  const entry = (await zipEntries(zf)).get(name);
  if (!entry) throw new Error(`${pack} has no ${name}`);
  const batches: Buffer[] = [];
  let rest = Buffer.alloc(0);
  let seen = 0;
  let header = name === 'events.csv';
  for await (const chunk of await openLarge(zf, entry)) {
    rest = Buffer.concat([rest, chunk as Buffer]);
    if (header) {
      // The header's columns (18 or 19, by the pack's age) are the width both versions check against.
      width = rest.toString('latin1', 0, rest.indexOf(0x0a)).split(',').length;
      rest = rest.subarray(rest.indexOf(0x0a) + 1);
      header = false;
    }
    while (seen < rows && rest.length >= BATCH_BYTES) {
      const end = cut(rest.subarray(0, BATCH_BYTES));
      if (end <= 0) throw new Error(`no whole row in ${BATCH_BYTES} bytes of ${name}`);
      const batch = Buffer.from(rest.subarray(0, end));
      batches.push(batch);
      for (let i = batch.indexOf(0x0a); i >= 0; i = batch.indexOf(0x0a, i + 1)) seen++;
      rest = rest.subarray(end);
    }
    if (seen >= rows) break;
  }
  zf.close();
  return batches;
}

/** A worker's CSV task: its batch's bytes read by checkCsvBytes, or (before it) decoded whole for checkCsvBatch. */
type CsvBatchCheck<B> = (batch: B, cfg: unknown) => ReturnType<Check>;
function csvCheck(m: { checkCsvBytes?: CsvBatchCheck<Buffer>; checkCsvBatch: CsvBatchCheck<string> }, cfg: unknown): Check {
  return m.checkCsvBytes ? (b) => m.checkCsvBytes!(b, cfg) : (b) => m.checkCsvBatch(b.toString('utf8'), cfg);
}

/** One process: both versions loaded in the given order, run alternately; CPU ns of each. */
async function child(pack: string, rows: number, dirs: string[]): Promise<void> {
  const lineEnd = (b: Buffer) => b.lastIndexOf(0x0a) + 1;
  const chain = await batchesOf(pack, 'chain.txt', rows, lineEnd);
  /* eslint-disable @typescript-eslint/no-require-imports */
  const csvEnd = require(path.join(dirs[0], 'src/evidence/csv-batch')).recordsEnd as (b: Buffer) => number;
  const csv = await batchesOf(pack, 'events.csv', rows, csvEnd);
  const cfg = { width, filter: null, noHidden: false };
  const checks = dirs.map((d) => {
    const { checkChainBatch } = require(path.join(d, 'src/evidence/chain-batch'));
    return { chain: ((b: Buffer) => checkChainBatch(b, cfg, width)) as Check, csv: csvCheck(require(path.join(d, 'src/evidence/csv-batch')), cfg) };
  });
  /* eslint-enable @typescript-eslint/no-require-imports */
  const out: Record<string, { ns: number[]; rows: number }> = {};
  for (const [kind, batches] of [['chain', chain], ['csv', csv]] as const) {
    const ns = [0, 0];
    let n = 0;
    for (let r = 0; r < REPS; r++) {
      for (const b of batches) {
        for (const k of r % 2 ? [1, 0] : [0, 1]) {
          const t = process.hrtime.bigint();
          const res = checks[k][kind](b);
          const dt = Number(process.hrtime.bigint() - t);
          if (res.failAt >= 0) throw new Error(`${dirs[k]}: a ${kind} batch failed its checks: use a pack both versions verify`);
          if (r === 0) continue; // the first round warms both up
          ns[k] += dt;
          if (k === 0) n += res.facts.length;
        }
      }
    }
    out[kind] = { ns, rows: n };
  }
  console.log(JSON.stringify(out));
}

function run(pack: string, rows: number, first: string, second: string): Record<string, { ns: number[]; rows: number }> {
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--child', '--pack', pack, '--rows', String(rows), '--first', first, '--second', second], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const pack = path.resolve(arg('pack'));
  const rows = Number(arg('rows', '300000'));
  if (process.argv.includes('--child')) return child(pack, rows, [arg('first'), arg('second')]);
  const base = path.resolve(arg('base'));
  const headFirst = run(pack, rows, HERE, base);
  const baseFirst = run(pack, rows, base, HERE);
  const figures: Record<string, number> = {};
  console.log(`\nthis checkout (${HERE}) against ${base}, ${REPS - 1} rounds after a warm-up, both load orders\n`);
  console.log('| rows of | this checkout µs/row | base µs/row | this / base | order effect |');
  console.log('|---|---:|---:|---:|---:|');
  for (const kind of ['chain', 'csv'] as const) {
    const a = headFirst[kind];
    const b = baseFirst[kind];
    const r1 = a.ns[1] / a.ns[0];
    const r2 = b.ns[1] / b.ns[0];
    const ratio = Math.sqrt(r2 / r1);
    const usHead = (a.ns[0] + b.ns[1]) / (a.rows + b.rows) / 1000;
    const usBase = (a.ns[1] + b.ns[0]) / (a.rows + b.rows) / 1000;
    console.log(`| ${kind === 'chain' ? 'chain.txt' : 'events.csv'} | ${usHead.toFixed(2)} | ${usBase.toFixed(2)} | ${ratio.toFixed(3)}× | ${Math.sqrt(r1 * r2).toFixed(3)}× |`);
    figures[`${kind}Ratio`] = Number(ratio.toFixed(4));
    figures[`${kind}UsPerRow`] = Number(usHead.toFixed(3));
    figures[`${kind}BaseUsPerRow`] = Number(usBase.toFixed(3));
  }
  console.log(`\n${JSON.stringify({ bench: 'verify-ab', rows: headFirst.chain.rows / (REPS - 1), ...figures })}`);
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
