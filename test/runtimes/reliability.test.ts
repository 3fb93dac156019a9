import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { ANNOTATIONS, LSMNS, busyboxBundle, runToFile, runtimeWrapper, shimRunner, simEnv, RUNTIMES, type SimEnv } from './harness.js';

// Issue 16's real-runtime cases: a bundle's own failing poststop hook, a duplicate create, hooks killed at
// random points followed by `lsmns gc`.

describe('reliability with a real runtime (issue 16)', function () {
  this.timeout(180_000);
  const rt = RUNTIMES.find((r) => r.name === 'runc')!;
  let e: SimEnv;
  let root: string;
  let wrapper: string;
  const { env, shim, direct, status, stop } = shimRunner(() => ({ e, root, wrapper }));
  beforeEach(async () => {
    e = await simEnv('lsmns-rel-');
    root = join(e.dir, 'root');
    wrapper = runtimeWrapper(e.dir, rt);
  });

  it('a bundle whose own poststop hook fails: lsmns\'s poststop still runs, and a second container can name the namespace', async () => {
    const failing = { poststop: [{ path: '/bin/false', args: ['false'] }] };
    const b1 = busyboxBundle(e.dir, { name: 'f1', annotations: ANNOTATIONS, hooks: failing });
    assert.equal(shim(['create', '--bundle', b1, 'fp1']).status, 0);
    assert.equal(shim(['start', 'fp1']).status, 0);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
    await stop('fp1');
    direct(['delete', '--force', 'fp1']);
    assert.equal(status('fp1'), null);
    assert.deepEqual(e.namespaces(), [], 'lsmns\'s poststop ran before the failing one');
    const b2 = busyboxBundle(e.dir, { name: 'f2', annotations: ANNOTATIONS });
    const c2 = shim(['create', '--bundle', b2, 'fp2']);
    assert.equal(c2.status, 0, c2.out);
    assert.equal((await stop('fp2')).status, 0);
    assert.deepEqual(e.namespaces(), []);
  });

  it('a duplicate create while the first container runs: refused, and the first container\'s records stay as they were', async () => {
    const b = busyboxBundle(e.dir, { name: 'd', annotations: ANNOTATIONS });
    assert.equal(shim(['create', '--bundle', b, 'dup1']).status, 0);
    assert.equal(shim(['start', 'dup1']).status, 0);
    const tasks = e.tasks();
    assert.equal(tasks.length, 1);
    const again = shim(['create', '--bundle', b, 'dup1']);
    assert.notEqual(again.status, 0, 'the runtime refuses a second container of that id');
    assert.equal(status('dup1'), 'running');
    assert.deepEqual(e.tasks(), tasks);
    assert.equal((await stop('dup1')).status, 0);
    assert.deepEqual(e.tasks(), [], 'the first container\'s poststop found its record and ended its task');
    assert.deepEqual(e.namespaces(), []);
  });

  it('createRuntime hooks killed at random journal points under runc, then lsmns gc: no namespace leaks that lsmns can prove it made', async () => {
    const points = ['marker-creating', 'mkdir', 'marker-ready', 'policy-load', 'policy-marker'];
    const unproven: string[] = [];
    for (let i = 0; i < 10; i++) {
      const point = points[Math.floor(Math.random() * points.length)]!;
      const hooks = e.hooks() as Record<string, { env: string[] }[]>;
      hooks.createRuntime![0]!.env.push(`LSMNS_TEST_CRASH_AT=${point}`);
      const ns = `kill-${i}`;
      const b = busyboxBundle(e.dir, { name: `k${i}`, annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': ns }, hooks });
      const c = shim(['create', '--bundle', b, `k${i}`]);
      assert.notEqual(c.status, 0, `${point}: the killed hook fails the create`);
      direct(['delete', '--force', `k${i}`]);
      if (point === 'mkdir') unproven.push(ns);
    }
    const gc = runToFile(process.execPath, [LSMNS, 'gc', '--grace', '0', '--output', 'json'], { dir: e.dir, env: env() });
    assert.equal(gc.status, 0, gc.out);
    const r = JSON.parse(gc.out) as { unproven: { namespace: string }[] };
    assert.deepEqual(r.unproven.map((x) => x.namespace).sort(), unproven.sort());
    assert.deepEqual(e.namespaces().map((n) => n.name).sort(), unproven.sort(), 'only the namespaces nothing proves lsmns made are left, and reported');
    const owners = join(e.options.stateDir, 'owners');
    const left = existsSync(owners) ? readdirSync(owners).flatMap((d) => readdirSync(join(owners, d))) : [];
    assert.deepEqual(left, [], 'no half-made marker, no lock');
    const second = runToFile(process.execPath, [LSMNS, 'gc', '--grace', '0'], { dir: e.dir, env: env() });
    assert.match(second.out, /^nothing to collect/);
  });

  it('delete of a container that was created and never started releases its namespace (and a second delete is quiet)', async () => {
    const b = busyboxBundle(e.dir, { name: 'ns1', annotations: ANNOTATIONS });
    assert.equal(shim(['create', '--bundle', b, 'ns1']).status, 0);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
    const d = shim(['delete', 'ns1']);
    assert.equal(d.status, 0, d.out);
    assert.deepEqual(e.namespaces(), []);
    assert.deepEqual(e.tasks(), []);
    assert.notEqual(shim(['delete', 'ns1']).status, 0, 'the runtime has no such container any more');
    assert.deepEqual(e.namespaces(), []);
  });
});
