#!/usr/bin/env node
'use strict';
// lsmns entry point. Every command goes through oclif, except the paths that run on each container start
// (the hook, and the runtime shim), which are dispatched here to single-file bundles (dist/bundle/, built by
// scripts/bundle.mjs) loaded with a V8 code cache, so that neither oclif nor dozens of ESM files are loaded.
// This file is CommonJS because an ESM entry alone costs a measurable part of a hook's budget.
const { readFileSync, readSync } = require('node:fs');
const Module = require('node:module');
const vm = require('node:vm');
const path = require('node:path');

const argv = process.argv.slice(2);
const bundleDir = path.join(__dirname, '..', 'dist', 'bundle');

/** Loads dist/bundle/<name>.cjs with its code cache when V8 accepts it. */
function loadBundle(name) {
  const file = path.join(bundleDir, `${name}.cjs`);
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, file, bundleDir);
  return mod.exports;
}

// One byte more than the hook accepts (MAX_OCI_STATE_BYTES in src/oci/spec.ts): stdin may be /dev/zero, and
// the hook then refuses the state as too large instead of reading without end.
const STATE_READ_BYTES = 1024 * 1024 + 1;

/** The OCI state on stdin, at most STATE_READ_BYTES; no stdin reads as empty and hookMain reports it. */
function readStdinBounded() {
  const buf = Buffer.allocUnsafe(STATE_READ_BYTES);
  let n = 0;
  try {
    for (let r; n < buf.length && (r = readSync(0, buf, n, buf.length - n, null)) > 0;) n += r;
  } catch {
    // EAGAIN, EBADF: what was read so far is the state.
  }
  return buf.toString('utf8', 0, n);
}

async function main() {
  if (argv[0] === 'hook') {
    const state = readStdinBounded();
    // Containers without lsmns annotations leave here, after one JSON.parse. A state that mentions lsmns.io/
    // goes straight to the hook, which checks it fully: the gate would only cost it one more file.
    if (!state.includes('lsmns.io/') && loadBundle('gate').skipsFast(argv[1], state)) return 0;
    const io = { env: process.env, stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };
    // Exit as soon as the answer is known: the runtime waits on this process, and nothing is left to finish
    // (the locks are released, and stdout/stderr writes to files and pipes are synchronous on Linux).
    process.exit(await loadBundle('hook').hookMain(argv.slice(1), state, io));
  }
  if (argv[0] === 'runtime') {
    const io = { env: process.env, cwd: process.cwd(), stderr: (s) => process.stderr.write(s) };
    return loadBundle('runtime').runtimeMain(argv.slice(1), io);
  }
  const { run, flush } = await import('@oclif/core');
  try {
    await run(argv, require('node:url').pathToFileURL(__filename).href);
    await flush();
    return undefined;
  } catch (e) {
    const exit = e && e.oclif ? e.oclif.exit : undefined;
    if (exit === 0) return 0;
    // Errors before a command runs (an unknown command or topic) are invalid input.
    process.stderr.write(`lsmns: ${String((e && e.message) || e).split('\n')[0]}\n  remedy: see lsmns --help\n`);
    return typeof exit === 'number' && exit !== 127 ? exit : 2;
  }
}

main().then((code) => {
  if (code !== undefined) process.exitCode = code;
});
