// The shim front on pass-through verbs (SPEC §7): `runc state` and `runc list` through hooks/lsmns-runtime (sh)
// and through the static front (dist/native/lsmns-runtime, when make build compiled it) against calling runc
// directly, interleaved in one run. Limit: at most 1.5 ms added per call.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, median, timeInterleaved } from './util.js';
import type { BenchModule } from './run.js';
import { NATIVE_FRONT, SH_FRONT } from '../test/support/fronts.js';

/** The fronts to time: sh always, the static one when it was built. */
const FRONTS = { sh: SH_FRONT, ...(existsSync(NATIVE_FRONT) ? { static: NATIVE_FRONT } : {}) };

const bench: BenchModule = {
  title: 'shim front pass-through',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'lsmns-bench-front-'));
    const b = join(dir, 'bundle');
    mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
    symlinkSync('busybox', join(b, 'rootfs', 'bin', 'sleep'));
    spawnSync('runc', ['spec'], { cwd: b });
    const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
    cfg.process.args = ['sleep', '60'];
    cfg.process.terminal = false;
    writeFileSync(join(b, 'config.json'), JSON.stringify(cfg));
    const root = join(dir, 'root');
    const fd = openSync(join(dir, 'create.log'), 'w');
    spawnSync('runc', ['--root', root, 'create', '--bundle', b, 'bench'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const wall = (cmd: string, args: string[]) => () => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { stdio: 'ignore', env: { ...process.env, LSMNS_RUNTIME: 'runc' } });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    try {
      const verbs = { state: ['--root', root, 'state', 'bench'], list: ['--root', root, 'list'] };
      const runs: Record<string, () => number> = {};
      for (const [v, args] of Object.entries(verbs)) {
        runs[`${v}:direct`] = wall('runc', args);
        for (const [name, front] of Object.entries(FRONTS)) runs[`${v}:${name}`] = wall(front, args);
      }
      const t = timeInterleaved(runs, 60, 5);
      for (const v of Object.keys(verbs)) {
        const d = median(t[`${v}:direct`]!);
        const through = Object.keys(FRONTS).map((name) => {
          const f = median(t[`${v}:${name}`]!);
          return `${name} front ${fmt(f)}: +${(f - d).toFixed(2)} ms, ${(f / d).toFixed(2)}x (${f - d <= 1.5 ? 'ok' : 'OVER'})`;
        });
        console.log(`  runc ${v}: direct ${fmt(d)}; ${through.join('; ')} (limit +1.5 ms per call)`);
      }
    } finally {
      spawnSync('runc', ['--root', root, 'delete', '--force', 'bench'], { stdio: 'ignore' });
    }
  },
};
export default bench;
