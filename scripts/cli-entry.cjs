#!/usr/bin/env node
// The `distribute` command: dist/cli.cjs, copied from scripts/cli-entry.cjs by
// scripts/bundle-cli.mjs. It runs the bundled command, dist/cli-bundle.cjs,
// with V8's code cache for it, dist/cli-bundle.cache, written when the package
// is built: the functions a start runs arrive compiled instead of being parsed
// and compiled anew by every process, which was half of the command's own
// start-up (bench/cli-startup.ts). V8 checks the cache against the source and
// its own version and flags; a cache that does not fit, or none, is set aside
// and the bundle compiles as it would without one.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const bundle = join(__dirname, 'cli-bundle.cjs');
const cache = join(__dirname, 'cli-bundle.cache');
let cachedData;
try {
  cachedData = readFileSync(cache);
} catch {
  // No cache: the bundle compiles as usual.
}
// The build leaves the bundle ASCII: read as one-byte text, V8 takes it and its cache sooner.
const script = new Script(wrap(readFileSync(bundle, 'latin1')), { filename: bundle, cachedData });
// The build runs the command once with this set to the cache's own path, and
// keeps what V8 compiled by the end of that run.
if (process.env.DISTRIBUTE_WRITE_CODE_CACHE === cache) {
  process.once('exit', () => writeFileSync(cache, script.createCachedData()));
}
const bundleModule = { exports: {}, filename: bundle, id: bundle };
script.runInThisContext()(bundleModule.exports, createRequire(bundle), bundleModule, bundle, __dirname);
