// Bundles the per-container-start entry points (the hook gate and the hook) into single CommonJS files with a
// V8 code cache, so that a hook process neither resolves dozens of ESM files nor compiles them again.
// Output goes to dist/bundle/ (generated, never committed). Run by `make build` after tsc.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
    // execa (ESM-only, used only on a policy-cache miss) stays out of the bundles, and import() of it becomes a
    // require() when it runs: Node >= 20.19 requires ES modules, while a vm.Script's import() loses its loader
    // when the script comes from a code cache.
    external: ['yaml', 'execa'],
    supported: { 'dynamic-import': false },
    // The policy grammar's parser is generated at build time into dist/ (never committed): bundle that output.
    plugins: [{ name: 'generated-grammar', setup(b) { b.onResolve({ filter: /^\.\/grammar\.js$/ }, () => ({ path: `${root}/dist/src/policy/grammar.js` })); } }],
    // A CJS bundle has no import.meta. The only bundled use (securityfs/helper.ts) finds dist/native/ relative
    // to its tsc output, dist/src/kernel/securityfs/; the bundle (loaded with __dirname = dist/bundle) says so.
    define: { 'import.meta.url': '__lsmnsHelperUrl' },
    banner: { js: "var __lsmnsHelperUrl=require('node:url').pathToFileURL(require('node:path').join(__dirname,'..','src','kernel','securityfs','helper.js')).href;" },
  });
}

// The code cache: compile each bundle the way bin/lsmns.cjs loads it, run it so that the functions a container
// start needs are compiled too, and store V8's cache beside it. The hook and the shim are exercised once on a
// throw-away sim (temp dir, explicit env: nothing outside it is touched), since a cache holds only functions
// compiled before it was made. A cache from another Node version is just rejected and ignored.
const require = createRequire(import.meta.url);
const warmDir = mkdtempSync(`${tmpdir()}/lsmns-bundle-warm-`);
const warmEnv = {
  LSMNS_BACKEND: 'sim', LSMNS_SIM_STATE: `${warmDir}/sim.json`, LSMNS_STATE_DIR: `${warmDir}/state`, LSMNS_POLICY_DIR: `${warmDir}/policies`,
  LSMNS_BIN: `${root}/bin/lsmns.cjs`, PATH: process.env.PATH ?? '/usr/bin:/bin',
};
mkdirSync(`${warmDir}/policies`);
writeFileSync(`${warmDir}/policies/web.aa`, 'profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n}\n');
mkdirSync(`${warmDir}/bundle`);
const annotations = { 'lsmns.io/apparmor-namespace': 'warm', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
writeFileSync(`${warmDir}/bundle/config.json`, JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, annotations }));
const state = (status, ann) => JSON.stringify({ ociVersion: '1.0.2', id: 'warm-1', status, pid: 1, bundle: `${warmDir}/bundle`, annotations: ann });
const quiet = { env: warmEnv, cwd: warmDir, stdout: () => {}, stderr: () => {} };
const warmUp = {
  gate: async (m) => m.skipsFast('createRuntime', state('creating', {})),
  hook: async (m) => {
    await m.hookMain(['createRuntime'], state('creating', annotations), quiet);
    await m.hookMain(['poststop'], state('stopped', annotations), quiet);
  },
  runtime: async (m) => m.prepareFor(['create', '--bundle', `${warmDir}/bundle`, 'warm-1'], {}, quiet),
};
try {
  for (const name of Object.keys(entries)) {
    const file = `${out}/${name}.cjs`;
    const script = new vm.Script(require('node:module').wrap(readFileSync(file, 'utf8')), { filename: file });
    const mod = { exports: {} };
    script.runInThisContext()(mod.exports, require, mod, file, out);
    await warmUp[name](mod.exports);
    writeFileSync(`${file}.cache`, script.createCachedData());
  }
} finally {
  rmSync(warmDir, { recursive: true, force: true });
}
