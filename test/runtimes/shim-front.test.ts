import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../kernel/sim/helpers.js';
import { FRONTS } from '../support/fronts.js';

// The shim front (sh, and the static one) must be invisible for every verb but create and run: same stdout,
// stderr and exit code as calling the runtime directly (SPEC §3). Real runc and crun, a real busybox container.

function busyboxBundle(dir: string): string {
  const b = join(dir, 'bundle');
  mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
  for (const t of ['sh', 'sleep', 'true']) symlinkSync('busybox', join(b, 'rootfs', 'bin', t));
  const spec = spawnSync('runc', ['spec', '--rootless'], { cwd: b, encoding: 'utf8' });
  assert.equal(spec.status, 0, spec.stderr);
  const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  cfg.process.args = ['sleep', '30'];
  cfg.process.terminal = false;
  cfg.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }];
  delete cfg.linux.uidMappings;
  delete cfg.linux.gidMappings;
  writeFileSync(join(b, 'config.json'), JSON.stringify(cfg));
  return b;
}

const RUNTIMES: { name: string; argv0: string[]; env: Record<string, string> }[] = [
  { name: 'runc', argv0: ['runc'], env: { LSMNS_RUNTIME: 'runc' } },
  // crun on this host's hybrid cgroups needs the unified hierarchy unmounted in a private mount namespace.
  { name: 'crun', argv0: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'crun'], env: { LSMNS_RUNTIME: 'crun' } },
];

for (const which of FRONTS) describe(`the shim front (${which.name}) passes every other verb through (real runc and crun)`, function () {
  this.timeout(60_000);
  for (const rt of RUNTIMES) {
    describe(rt.name, () => {
      const dir = tempDir(`lsmns-front-${which.name}-${rt.name}-`);
      const root = join(dir, 'root');
      const bundle = busyboxBundle(dir);
      const id = `front-${which.name}-${process.pid}`;
      // Direct: the runtime itself. Through the front: the same argv after the front, which execs the runtime.
      const direct = (args: string[]) => spawnSync(rt.argv0[0]!, [...rt.argv0.slice(1), '--root', root, ...args], { encoding: 'utf8', cwd: bundle });
      const front = (args: string[]) => {
        // The front execs LSMNS_RUNTIME; for crun that is a tiny wrapper doing the cgroup unmount.
        const wrapper = join(dir, `${rt.name}-wrapper`);
        writeFileSync(wrapper, `#!/bin/sh\nexec ${rt.argv0.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')} "$@"\n`, { mode: 0o755 });
        return spawnSync(which.cmd, [...which.args, '--root', root, ...args], { encoding: 'utf8', cwd: bundle, env: { ...process.env, ...rt.env, LSMNS_RUNTIME: wrapper } });
      };
      before(() => {
        // The container's init inherits create's stdio and keeps it open, so it must not be a pipe we wait on.
        const errFile = join(dir, 'create.err');
        const fd = openSync(errFile, 'w');
        const c = spawnSync(rt.argv0[0]!, [...rt.argv0.slice(1), '--root', root, 'create', '--bundle', bundle, id], { stdio: ['ignore', fd, fd] });
        closeSync(fd);
        assert.equal(c.status, 0, readFileSync(errFile, 'utf8'));
      });
      after(() => direct(['delete', '--force', id]));

      const verbs: [string, string[]][] = [
        ['state', ['state', id]],
        ['state of a missing container', ['state', 'no-such-container']],
        ['list', ['list']],
        ['list --format json', ['list', '--format', 'json']],
        ['ps of a missing container', ['ps', 'no-such-container']],
        ['an unknown verb', ['frobnicate']],
        ['--version', ['--version']],
      ];
      for (const [name, args] of verbs) {
        it(name, () => {
          const d = direct(args);
          const f = front(args);
          assert.equal(f.status, d.status, `exit code: ${f.stderr}`);
          assert.equal(f.stdout, d.stdout);
          assert.equal(f.stderr.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, 'T'), d.stderr.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, 'T'));
        });
      }
      it('start, kill and delete go through and work', () => {
        assert.equal(front(['start', id]).status, 0);
        assert.equal(JSON.parse(direct(['state', id]).stdout).status, 'running');
        assert.equal(front(['kill', id, 'KILL']).status, 0);
        for (let i = 0; i < 50 && JSON.parse(direct(['state', id]).stdout).status !== 'stopped'; i++) spawnSync('sleep', ['0.1']);
        const del = front(['delete', id]);
        assert.equal(del.status, 0, del.stderr);
        assert.notEqual(direct(['state', id]).status, 0);
      });
      it('a broken node configuration refuses create (exit 2, file:line) but never blocks another verb', () => {
        const conf = join(dir, 'broken.conf');
        writeFileSync(conf, `LSMNS_RUNTIME=${join(dir, `${rt.name}-wrapper`)}\nLSMNS_SOKET=/x\n`);
        const env = { ...process.env, LSMNS_CONFIG: conf, LSMNS_RUNTIME: '' };
        const list = spawnSync(which.cmd, [...which.args, '--root', root, 'list'], { encoding: 'utf8', cwd: bundle, env });
        assert.equal(list.status, direct(['list']).status, list.stderr);
        assert.equal(list.stdout, direct(['list']).stdout, 'the runtime the file names, reached with the lines before the bad one');
        const create = spawnSync(which.cmd, [...which.args, '--root', root, 'create', '--bundle', bundle, `${id}-2`], { encoding: 'utf8', cwd: bundle, env });
        assert.equal(create.status, 2);
        assert.equal(create.stderr, `lsmns: ${conf}:2: not a known LSMNS_ KEY=value line. Remedy: fix the line (lsmns doctor checks the file)\n`);
        assert.notEqual(direct(['state', `${id}-2`]).status, 0, 'the runtime was never asked to create');
      });
    });
  }
});

for (const which of FRONTS) describe(`the shim front (${which.name}) reads only what a pass-through verb needs`, () => {
  // sh reads a file one byte per read(2), and a pod makes a dozen pass-through calls: they read the node
  // configuration no further than its LSMNS_RUNTIME line. A FIFO whose writer never closes proves it: a front
  // that read on to the end of the file would wait for ever.
  it('stops at the LSMNS_RUNTIME line (which lsmns install writes first); create and run still read it all', async function () {
    this.timeout(20_000);
    const dir = tempDir('lsmns-front-fifo-');
    const rt = join(dir, 'rt');
    writeFileSync(rt, '#!/bin/sh\necho "ran $*"\n', { mode: 0o755 });
    const fifo = join(dir, 'node.conf');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const env = { ...process.env, LSMNS_CONFIG: fifo, LSMNS_RUNTIME: '' };
    const child = spawn(which.cmd, [...which.args, '--root', join(dir, 'root'), 'state', 'c1'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const fd = openSync(fifo, 'w');
    try {
      writeSync(fd, `LSMNS_RUNTIME=${rt}\nLSMNS_SOCKET=/run/x.sock\n`);
      const code = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 10_000);
        child.once('exit', (c) => { clearTimeout(t); resolve(c); });
      });
      assert.equal(code, 0, 'the front waited for the rest of the file');
      assert.equal(out, `ran --root ${join(dir, 'root')} state c1\n`);
    } finally {
      closeSync(fd);
    }
  });
});
