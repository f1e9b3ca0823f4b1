#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=20
'use strict';
// Node flags for a streaming export (issue 15, bench/README.md "Export"): --max-semi-space-size=8 (MB; V8's default
// lets the young generation grow to 2 x 16 MB after the first few thousand rows) and --heap-growing-percent=20 (the
// old generation may grow 20 % past what the last full collection kept, where V8 by default lets it double or more
// before collecting the garbage a long pass promotes). The CPU time stays the same; the peak of an export of 500,000
// events comes within ~10-20 MB of that of 1,000. The flags apply when the command runs as itself (`attest`,
// `npx attest`); `node bin/attest.js` runs without them.
// Runs the TypeScript CLI through tsx, so `npx attest …` works from any directory without a build step.
require('tsx/cjs/api').register();
require('../src/cli.ts').run(process.argv.slice(2));
