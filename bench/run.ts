/**
 * `npm run bench`: every benchmark in turn, each measuring its own baseline in the same run.
 * Sizes are the defaults of each script; pass BENCH_ROWS to change the export/verify size.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const rows = process.env.BENCH_ROWS ?? '1000000';
const runs: Array<[string, string[]]> = [
  ['decisions.ts', ['3000', '32']],
  ['appends.ts', ['3000', '32']],
  ['render.ts', ['30000', '16']],
  ['export.ts', [rows]],
  ['verify.ts', [rows]],
];

let failed = 0;
for (const [script, args] of runs) {
  process.stdout.write(`\n== bench/${script} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
