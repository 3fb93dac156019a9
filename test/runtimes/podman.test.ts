import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LSMNS, busyboxBundle, runToFile, shimWrapper, simEnv, type SimEnv, withoutLsmns } from './harness.js';

// podman with --hooks-dir set to what `lsmns install` wrote: the hook fires only for containers with
// an lsmns annotation, and the namespace lives as long as the container (podman runs poststop).

describe('podman with the hooks.d JSON from lsmns install', function () {
  this.timeout(180_000);
  let e: SimEnv;
  let rootfs: string;
  let podman: (args: string[]) => ReturnType<typeof runToFile>;
  let podmanBase: string[];
  const hookLines = () => (existsSync(join(e.options.stateDir, 'hook.log')) ? readFileSync(join(e.options.stateDir, 'hook.log'), 'utf8').trim().split('\n').filter(Boolean).length : 0);
  const ann = (a: Record<string, string>) => Object.entries(a).flatMap(([k, v]) => ['--annotation', `${k}=${v}`]);
  const OURS = { 'lsmns.io/apparmor-namespace': 'tenant-p', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

  before(async () => {
    e = await simEnv('lsmns-podman-', { node: true });
    rootfs = join(busyboxBundle(e.dir), 'rootfs');
    const hooksDir = join(e.dir, 'etc/containers/oci/hooks.d');
    const inst = runToFile(process.execPath, [LSMNS, 'install', '--root', e.dir, '--backend', 'sim'], { dir: e.dir, env: withoutLsmns(process.env) });
    assert.equal(inst.status, 0, inst.out);
    podmanBase = ['--root', join(e.dir, 'storage'), '--runroot', join(e.dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', '--hooks-dir', hooksDir];
    podman = (args) => runToFile('podman', [...podmanBase, ...args], { dir: e.dir });
  });

  const run = (name: string, annotations: Record<string, string>, cmd: string[]) =>
    podman(['run', '-d', '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann(annotations), '--rootfs', rootfs, ...cmd]);

  it('an annotated container: createRuntime makes the namespace and loads the policy; rm (poststop) removes it', () => {
    const r = run('ann', OURS, ['sleep', '30']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-p', profiles: ['p'] }]);
    const rm = podman(['rm', '-f', '-t', '0', 'ann']);
    assert.equal(rm.status, 0, rm.out);
    assert.deepEqual(e.namespaces(), []);
  });

  it('a container without lsmns annotations never runs the hook', () => {
    const lines = hookLines();
    const before = e.bytes();
    for (const [name, a] of [['plain', {}], ['other', { 'org.example/x': 'y' }]] as const) {
      const r = podman(['run', '--rm', '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann(a), '--rootfs', rootfs, 'true']);
      assert.equal(r.status, 0, r.out);
    }
    assert.equal(hookLines(), lines, 'no hook ran');
    assert.equal(e.bytes(), before);
  });

  it('a hostile value still reaches the hook (the gate matches any value) and the start fails, naming the key', () => {
    const before = e.bytes();
    const r = podman(['run', '--rm', '--name', 'bad', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann({ ...OURS, 'lsmns.io/apparmor-namespace': 'a//b' }), '--rootfs', rootfs, 'true']);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /lsmns\.io\/apparmor-namespace/);
    assert.equal(e.bytes(), before);
    podman(['rm', '-f', 'bad']);
  });

  it('a misspelt namespace key reaches the hook too (the gate is every lsmns key): the start fails with a did-you-mean', () => {
    const before = e.bytes();
    const typo = { 'lsmns.io/apparmor-namepsace': 'tenant-p', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
    const r = podman(['run', '--rm', '--name', 'typo', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann(typo), '--rootfs', rootfs, 'true']);
    assert.notEqual(r.status, 0, `the container must not start unconfined: ${r.out}`);
    assert.match(r.out, /lsmns\.io\/apparmor-namepsace.*lsmns\.io\/apparmor-namespace \(did you mean this\?\)/);
    assert.equal(e.bytes(), before);
    podman(['rm', '-f', 'typo']);
  });

  it('with the lsmns shim as podman\'s runtime (no hooks.d): annotations only, the container runs as the label', () => {
    const wrapper = shimWrapper(e);
    const shimmed = (args: string[]) => runToFile('podman', [...podmanBase.filter((a, i, all) => a !== '--hooks-dir' && all[i - 1] !== '--hooks-dir').map((a) => (a === 'runc' ? wrapper : a)), ...args], { dir: e.dir });
    const r = shimmed(['run', '-d', '--name', 'shim', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann(OURS), '--rootfs', rootfs, 'sleep', '30']);
    assert.equal(r.status, 0, r.out);
    const id = r.out.trim().split('\n').pop()!;
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-p', profiles: ['p'] }]);
    assert.deepEqual(e.tasks().map((t) => [t.container, t.label]), [[id, 'unconfined//&:tenant-p:p (enforce)']]);
    assert.equal(shimmed(['rm', '-f', '-t', '0', 'shim']).status, 0);
    assert.deepEqual(e.namespaces(), []);
    assert.deepEqual(e.tasks(), []);
    const before = e.bytes();
    const bad = shimmed(['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann({ ...OURS, 'lsmns.io/apparmor-namespace': 'a:b' }), '--rootfs', rootfs, 'true']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.out, /lsmns runtime create: .*lsmns\.io\/apparmor-namespace="a:b"/);
    assert.equal(e.bytes(), before);
  });

  after(() => {
    podman(['rm', '-f', '-t', '0', 'ann']);
  });
});
