#!/usr/bin/env node
'use strict';
// Runs the TypeScript CLI through tsx, so `npx attest …` works from any directory without a build step.
require('tsx/cjs/api').register();
require('../src/cli.ts').run(process.argv.slice(2));
