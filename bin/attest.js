#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=50
'use strict';
// Node flags for a streaming export (issue 15, bench/README.md "Export"): --max-semi-space-size=8 (MB; V8's default
// lets the young generation grow to 2 x 16 MB after the first few thousand rows) and --heap-growing-percent=50 (the
// old generation may grow 50 % past what the last full collection kept, where V8 by default lets it double or more
// before collecting the garbage a long pass promotes; 20 % cost 8 % more CPU for the same peak). A pack of 500,000
// events peaks at 117 MB with them, 167 MB without. They apply when the command runs as itself (`attest`,
// `npx attest`); `node bin/attest.js` runs without them.
const args = process.argv.slice(2);
// `attest verify FILE` keeps every core busy with threads of its own (the main thread inflating and comparing, worker
// threads checking rows), and V8's parallel GC helper threads then only contend with them: without them a pack of a
// million events took ~10 % less CPU and time on 2 cores (bench/README.md "Verify, 2026-12-03"). A running process
// cannot turn them off, so the verifier runs in a node started with --single-threaded-gc. The other commands (and
// `verify --db`) keep them: with single-threaded GC a million-event pack export peaked at 122 MB, not 115–120.
// A signal that stops this process is passed on, so that the verifier never runs on alone; it exits as the verifier did.
if (args[0] === 'verify' && !args.includes('--db') && !process.execArgv.includes('--single-threaded-gc')) {
  const verifier = require('node:child_process').spawn(process.execPath, [...process.execArgv, '--single-threaded-gc', __filename, ...args], { stdio: 'inherit' });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, () => verifier.kill(signal));
  verifier.on('error', (err) => {
    throw err;
  });
  verifier.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 1);
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    process.exit(1); // a signal this process ignores (SIGPIPE): never a success
  });
} else {
  // Runs the TypeScript CLI through tsx, so `npx attest …` works from any directory without a build step.
  require('tsx/cjs/api').register();
  require('../src/cli.ts').run(args);
}
