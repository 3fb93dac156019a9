// The standalone hook's cost (SPEC §7), interleaved with its baselines in one run, medians of many runs:
// - `lsmns hook createRuntime` on an annotated container (a real create: poststop, untimed, removes it again)
//   against `node -e 0`: limit 1.2x (SPEC §7);
// - the hook on a container without lsmns annotations against `node -e 0`: limit 1.1x;
// - runc create + start + delete with the lsmns hooks against without (printed; SPEC §7 sets no limit for the
//   standalone hooks, since two Node start-ups cost more than a whole runc run), and the same created through
//   `lsmns runtime` on a bundle with annotations only (a third Node start-up).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ANNOTATIONS, LSMNS, busyboxBundle, runToFile, simEnv } from '../test/runtimes/harness.js';
import { fmt, median, ok, ratioLine, timeInterleaved, wall } from './util.js';
import { runcLifecycle } from './bundle.js';
import type { BenchModule } from './run.js';

const N = Number(process.env.LSMNS_BENCH_N ?? 40);

const bench: BenchModule = {
  title: 'standalone hook (lsmns hook) and runc with the lsmns hooks',
  async run() {
    const e = await simEnv('lsmns-bench-hook-');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...e.env };
    const bundle = busyboxBundle(e.dir, { name: 'ann', annotations: ANNOTATIONS, args: ['true'] });
    const plainBundle = busyboxBundle(e.dir, { name: 'plain', annotations: { 'org.example/x': 'y' }, args: ['true'] });
    const state = (b: string, annotations: Record<string, string>, status: string) => JSON.stringify({ ociVersion: '1.0.2', id: 'bench-1', status, pid: 4242, bundle: b, annotations });
    const annCreate = state(bundle, ANNOTATIONS, 'creating');
    const annStop = state(bundle, ANNOTATIONS, 'stopped');
    const plainCreate = state(plainBundle, { 'org.example/x': 'y' }, 'creating');
    const hook = (stage: string, input: string) => ok(spawnSync(process.execPath, [LSMNS, 'hook', stage], { input, env, stdio: ['pipe', 'ignore', 'pipe'] }), `lsmns hook ${stage}`);

    // runc with and without the hooks, on two bundles that differ only in them.
    const hooked = busyboxBundle(e.dir, { name: 'rh', annotations: ANNOTATIONS, args: ['true'], hooks: e.hooks() });
    const bare = busyboxBundle(e.dir, { name: 'rb', annotations: ANNOTATIONS, args: ['true'] });
    const root = join(e.dir, 'runc-root');
    const lifecycle = (b: string, id: string) => () => runcLifecycle(root, e.dir, b, id);

    // The shim path: a bundle with only annotations, created through `lsmns runtime` (hooks added, label recorded).
    const shimmed = busyboxBundle(e.dir, { name: 'rs', annotations: ANNOTATIONS, args: ['true'] });
    const viaShim = () => {
      const c = runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', 'runc', '--', '--root', root, 'create', '--bundle', shimmed, 'bench-shim'], { dir: e.dir, env });
      if (c.status !== 0) throw new Error(`lsmns runtime create: ${c.out}`);
      for (const args of [['start', 'bench-shim'], ['delete', '--force', 'bench-shim']]) {
        const r = runToFile('runc', ['--root', root, ...args], { dir: e.dir });
        if (r.status !== 0) throw new Error(`runc ${args.join(' ')}: ${r.out}`);
      }
    };

    const t = timeInterleaved({
      node: wall(() => ok(spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' }), 'node -e 0')),
      create: () => {
        const ms = wall(() => hook('createRuntime', annCreate))();
        hook('poststop', annStop);
        return ms;
      },
      plain: wall(() => hook('createRuntime', plainCreate)),
      runcBare: wall(lifecycle(bare, 'bench-bare')),
      runcHooked: wall(lifecycle(hooked, 'bench-hooked')),
      runcShim: wall(viaShim),
    }, N, 3);
    if (e.namespaces().length !== 0) throw new Error('a namespace was left behind: the hooks did not clean up');

    const node = median(t.node!);
    // On a shared machine, load drifts within a run: the median of the per-round ratios (each measured next to
    // its own baseline) is steadier than the ratio of medians, so both are printed.
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!)).toFixed(2);
    console.log(`  ${N} interleaved runs each, medians; baseline node -e 0: ${fmt(node)}`);
    console.log(`${ratioLine('lsmns hook createRuntime (annotated)', median(t.create!), node, 1.2)}; paired ${paired(t.create!, t.node!)}x`);
    console.log(`${ratioLine('lsmns hook createRuntime (no lsmns annotations)', median(t.plain!), node, 1.1)}; paired ${paired(t.plain!, t.node!)}x`);
    const bareMs = median(t.runcBare!);
    console.log(`  runc create+start+delete without hooks: ${fmt(bareMs)}`);
    console.log(`${ratioLine('runc create+start+delete with the lsmns hooks', median(t.runcHooked!), bareMs)}; paired ${paired(t.runcHooked!, t.runcBare!)}x`);
    console.log(`${ratioLine('the same, created through lsmns runtime (shim)', median(t.runcShim!), bareMs)}; paired ${paired(t.runcShim!, t.runcBare!)}x`);
  },
};
export default bench;
