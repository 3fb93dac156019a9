import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LsmnsError } from '../../../src/errors.js';
import { OciRuntime } from '../../../src/kernel/securityfs/runtime.js';
import { freshSim, tempDir } from '../sim/helpers.js';

describe('kernel/securityfs/runtime (the real runtime port: the label goes into config.json)', () => {
  const rt = () => new OciRuntime(freshSim(), join(tempDir(), 'state'));
  const intent = { label: 'host//&:ns:p', display: null, container: 'web' } as const;

  it('writes process.apparmorProfile and says the document changed; the same label again changes nothing', () => {
    const doc: { process: Record<string, unknown>; root: unknown } = { process: { args: ['sh'] }, root: { path: 'rootfs' } };
    const r = rt();
    assert.equal(r.prepare({ dir: '/b', doc }, intent), true);
    assert.deepEqual(doc, { process: { args: ['sh'], apparmorProfile: 'host//&:ns:p' }, root: { path: 'rootfs' } });
    assert.equal(r.prepare({ dir: '/b', doc }, intent), false);
    assert.equal(r.describe().labelTo, 'config');
    assert.equal(r.shimSetsDisplay, true);
  });
  it('a bundle without a process section is refused (exit 2), and a bundle with no label is left alone', () => {
    const r = rt();
    assert.throws(() => r.prepare({ dir: '/b', doc: {} }, intent), (e: unknown) => e instanceof LsmnsError && e.code === 'InvalidBundle' && e.exitCode === 2);
    const doc = { process: { args: ['sh'] } };
    assert.equal(r.prepare({ dir: '/b', doc }, null), false);
    assert.deepEqual(doc, { process: { args: ['sh'] } });
  });

  it('initPid looks for the container\'s init in the host\'s cgroups, and an id that is not one finds nothing', async () => {
    assert.equal(await rt().initPid('containerd://../../etc'), null);
    assert.equal(await rt().initPid('containerd://ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'), null);
  });
});

