// The shim front on pass-through verbs (SPEC §7): `runc state` and `runc list` through hooks/lsmns-runtime
// against calling runc directly, interleaved in one run. Limit: at most 1.5 ms added per call.

import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, timeInterleaved } from './util.js';
import type { BenchModule } from './run.js';

const FRONT = fileURLToPath(new URL('../../hooks/lsmns-runtime', import.meta.url));

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
      const t = timeInterleaved({
        stateDirect: wall('runc', ['--root', root, 'state', 'bench']),
        stateFront: wall(FRONT, ['--root', root, 'state', 'bench']),
        listDirect: wall('runc', ['--root', root, 'list']),
        listFront: wall(FRONT, ['--root', root, 'list']),
      }, 60, 5);
      for (const v of ['state', 'list']) {
        const d = median(t[`${v}Direct`]!);
        const f = median(t[`${v}Front`]!);
        console.log(`  runc ${v}: direct ${fmt(d)}, through the front ${fmt(f)}: +${(f - d).toFixed(2)} ms per call, ${(f / d).toFixed(2)}x (limit +1.5 ms: ${f - d <= 1.5 ? 'ok' : 'OVER'})`);
      }
    } finally {
      spawnSync('runc', ['--root', root, 'delete', '--force', 'bench'], { stdio: 'ignore' });
    }
  },
};
export default bench;
