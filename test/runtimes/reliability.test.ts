import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ANNOTATIONS, LSMNS, busyboxBundle, containerStatus, killAndDelete, runToFile, runtimeWrapper, simEnv, RUNTIMES, type SimEnv } from './harness.js';

// Issue 16's real-runtime cases: a bundle's own failing poststop hook, a duplicate create, hooks killed at
// random points followed by `lsmns gc`.

describe('reliability with a real runtime (issue 16)', function () {
  this.timeout(180_000);
  const rt = RUNTIMES.find((r) => r.name === 'runc')!;
  let e: SimEnv;
  let root: string;
  let wrapper: string;
  const env = () => ({ ...process.env, ...e.env });
  const shim = (args: string[]) => runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, ...args], { dir: e.dir, env: env(), cwd: e.dir });
  const direct = (args: string[]) => spawnSync(wrapper, ['--root', root, ...args], { encoding: 'utf8' });
  const status = (id: string) => containerStatus([wrapper], root, id);
  beforeEach(async () => {
    e = await simEnv('lsmns-rel-');
    root = join(e.dir, 'root');
    wrapper = runtimeWrapper(e.dir, rt);
  });

  it('a bundle whose own poststop hook fails: lsmns\'s poststop still runs, and a second container can name the namespace', () => {
    const failing = { poststop: [{ path: '/bin/false', args: ['false'] }] };
    const b1 = busyboxBundle(e.dir, { name: 'f1', annotations: ANNOTATIONS, hooks: failing });
    assert.equal(shim(['create', '--bundle', b1, 'fp1']).status, 0);
    assert.equal(shim(['start', 'fp1']).status, 0);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
    killAndDelete(shim, [wrapper], root, 'fp1');
    direct(['delete', '--force', 'fp1']);
    assert.equal(status('fp1'), null);
    assert.deepEqual(e.namespaces(), [], 'lsmns\'s poststop ran before the failing one');
    const b2 = busyboxBundle(e.dir, { name: 'f2', annotations: ANNOTATIONS });
    const c2 = shim(['create', '--bundle', b2, 'fp2']);
    assert.equal(c2.status, 0, c2.out);
    assert.equal(killAndDelete(shim, [wrapper], root, 'fp2').status, 0);
    assert.deepEqual(e.namespaces(), []);
  });
});
