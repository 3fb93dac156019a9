import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS, busyboxBundle, shimWrapper, simEnv, startContainerd, type Containerd, type SimEnv } from './harness.js';

// containerd (ctr, runc v2 shim): a spec that carries the lsmns hooks and annotations, and the lsmns shim as
// the runc binary, where a refusal reaches the user through runc's --log file, which containerd reads.

describe('containerd (ctr run --config)', function () {
  this.timeout(180_000);
  let e: SimEnv;
  let cd: Containerd;
  let spec: (name: string, o: { annotations: Record<string, string>; hooks?: boolean }) => string;

  before(async () => {
    e = await simEnv('lsmns-containerd-');
    cd = await startContainerd(e.dir);
    const rootfs = join(busyboxBundle(e.dir), 'rootfs');
    spec = (name, o) => {
      const cfg = JSON.parse(readFileSync(join(e.dir, 'bundle', 'config.json'), 'utf8'));
      cfg.root = { path: rootfs, readonly: true };
      cfg.annotations = o.annotations;
      if (o.hooks) cfg.hooks = e.hooks();
      const p = join(e.dir, `${name}.json`);
      writeFileSync(p, JSON.stringify(cfg));
      return p;
    };
  });

  it('a spec with the lsmns hooks and annotations: namespace while it runs, gone after delete', async () => {
    const r = cd.ctr(['run', '-d', '--null-io', '--config', spec('hooked', { annotations: ANNOTATIONS, hooks: true }), 'hooked']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
    assert.equal((await cd.killAndDelete('hooked')).status, 0);
    assert.deepEqual(e.namespaces(), []);
  });

  it('the lsmns shim as the runc binary: annotations only, the container runs as the label; delete ends it', async () => {
    const wrapper = shimWrapper(e);
    const r = cd.ctr(['run', '-d', '--null-io', '--runc-binary', wrapper, '--config', spec('shimmed', { annotations: ANNOTATIONS }), 'shimmed']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
    assert.deepEqual(e.tasks().map((t) => [t.container, t.label]), [['shimmed', 'unconfined//&:tenant-a:p (enforce)']]);
    assert.equal((await cd.killAndDelete('shimmed')).status, 0);
    assert.deepEqual(e.namespaces(), []);
    assert.deepEqual(e.tasks(), []);

    // A refusal: containerd shows the shim's message, read from runc's --log file; nothing changed.
    const before = e.bytes();
    const bad = cd.ctr(['run', '-d', '--null-io', '--runc-binary', wrapper, '--config', spec('refused', { annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-profile': 'x:y' } }), 'refused']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.out, /OCI runtime create failed: lsmns runtime create: .*lsmns\.io\/apparmor-profile="x:y"/);
    assert.equal(e.bytes(), before);
    cd.ctr(['container', 'delete', 'refused']);
  });

  after(async () => {
    for (const id of ['hooked', 'shimmed']) await cd.killAndDelete(id);
    await cd.stop();
  });
});
