#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=50
'use strict';
// Node flags for a streaming export (issue 15, bench/README.md "Export"): --max-semi-space-size=8 (MB; V8's default
// lets the young generation grow to 2 x 16 MB after the first few thousand rows) and --heap-growing-percent=50 (the
// old generation may grow 50 % past what the last full collection kept, where V8 by default lets it double or more
// before collecting the garbage a long pass promotes; 20 % cost 8 % more CPU for the same peak). A pack of 500,000
// events peaks at 117 MB with them, 167 MB without. They apply when the command runs as itself (`attest`,
// `npx attest`); `node bin/attest.js` runs without them.
// Runs the TypeScript CLI through tsx, so `npx attest …` works from any directory without a build step.
require('tsx/cjs/api').register();
require('../src/cli.ts').run(process.argv.slice(2));
