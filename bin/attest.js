#!/usr/bin/env -S node --max-semi-space-size=8
'use strict';
// --max-semi-space-size=8 (MB; V8's default lets the young generation grow to 2 x 16 MB): an export streams rows
// through a young generation that, left to grow, adds ~16 MB to its peak after the first few thousand rows;
// capped, the peak of an export of 1M events is about that of 1,000 (issue 15, bench/README.md "Export").
// The flag applies when the command runs as itself (`attest`, `npx attest`); `node bin/attest.js` runs without it.
// Runs the TypeScript CLI through tsx, so `npx attest …` works from any directory without a build step.
require('tsx/cjs/api').register();
require('../src/cli.ts').run(process.argv.slice(2));
