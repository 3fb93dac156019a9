// Bundles the per-container-start entry points (the hook gate and the hook) into single CommonJS files with a
// V8 code cache, so that a hook process neither resolves dozens of ESM files nor compiles them again.
// Output goes to dist/bundle/ (generated, never committed). Run by `make build` after tsc.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import vm from 'node:vm';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = `${root}/dist/bundle`;
mkdirSync(out, { recursive: true });

const entries = { gate: 'src/oci/gate.ts', hook: 'src/oci/hook-main.ts', runtime: 'src/oci/runtime-main.ts' };
for (const [name, entry] of Object.entries(entries)) {
  await build({
    entryPoints: [`${root}/${entry}`], outfile: `${out}/${name}.cjs`, bundle: true, platform: 'node', format: 'cjs',
    target: 'node20', minify: true, legalComments: 'none', logLevel: 'warning',
    // Loaded lazily, and only off the hook path (pod YAML); keeping it out keeps the bundle small.
    external: ['yaml'],
  });
}

// The code cache: compile each bundle the way bin/lsmns.cjs loads it, run it so that lazily compiled functions
// are included, and store V8's cache beside it. A cache from another Node version is just rejected and ignored.
const require = createRequire(import.meta.url);
for (const name of Object.keys(entries)) {
  const file = `${out}/${name}.cjs`;
  const script = new vm.Script(require('node:module').wrap(readFileSync(file, 'utf8')), { filename: file });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, file, out);
  writeFileSync(`${file}.cache`, script.createCachedData());
}
