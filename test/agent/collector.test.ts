import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OrphanCollector } from '../../src/agent/collector.js';
import { livenessFromMarker } from '../../src/apply/gc.js';
import { OWNER_FORMAT_VERSION, OwnershipStore } from '../../src/apply/ownership.js';
import type { CommonOptions } from '../../src/config.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { tempDir } from '../kernel/sim/helpers.js';

describe('agent/collector', () => {
  let common: CommonOptions;
  let sim: SimKernel;
  let owners: OwnershipStore;
  const logged: { level: string; o: Record<string, unknown> }[] = [];
  const logger = { info: (o: object) => logged.push({ level: 'info', o: o as Record<string, unknown> }), warn: (o: object) => logged.push({ level: 'warn', o: o as Record<string, unknown> }), error() {} };
  beforeEach(async () => {
    const dir = tempDir('lsmns-collector-');
    common = { backend: 'sim', simState: join(dir, 'sim.json'), securityfs: '/nonexistent', policyDir: join(dir, 'policies'), hostProfileDir: join(dir, 'apparmor.d'), stateDir: join(dir, 'state'), socket: join(dir, 'agent.sock') };
    sim = new SimKernel({ path: common.simState });
    owners = new OwnershipStore({ stateDir: common.stateDir, backend: 'sim', bootId: await sim.bootId() });
    await sim.createNamespace('orphan');
    owners.put({ formatVersion: OWNER_FORMAT_VERSION, namespace: 'orphan', podKey: 'sandbox:s1', pod: { name: null, namespace: null, uid: null }, sandboxId: 's1', state: 'ready', refs: [], policy: null, createdAt: new Date(0).toISOString(), createdByPid: 1, identity: await sim.namespaceIdentity('orphan') });
    logged.length = 0;
  });

  it('judges nothing while the liveness cannot be decided (informers not listed)', async () => {
    const c = new OrphanCollector({ common, graceMs: 0, intervalMs: 60_000, logger, liveness: () => null });
    assert.equal(await c.runOnce(), null);
    assert.deepEqual(await sim.listNamespaces(), ['orphan']);
  });

  it('collects at start, logs what it removed and why, and tells the caller', async () => {
    const removed: string[] = [];
    let now = 1_000;
    const c = new OrphanCollector({ common, graceMs: 500, intervalMs: 60_000, logger, liveness: () => livenessFromMarker, now: () => now, onRemoved: (x) => removed.push(x.namespace) });
    await c.start();
    assert.deepEqual(await sim.listNamespaces(), ['orphan'], 'first seen dead at start: the grace runs from now');
    now += 500;
    await c.runOnce();
    await c.stop();
    assert.deepEqual(await sim.listNamespaces(), []);
    assert.deepEqual(removed, ['orphan']);
    assert.deepEqual(logged.filter((l) => l.o.event === 'gc').map((l) => [l.level, l.o.namespace, l.o.why]), [['info', 'orphan', 'no container holds a reference any more']]);
  });

  it('a run already under way is joined, not started twice', async () => {
    const c = new OrphanCollector({ common, graceMs: 0, intervalMs: 60_000, logger, liveness: () => livenessFromMarker });
    const [a, b] = [c.runOnce(), c.runOnce()];
    assert.equal(a, b);
    assert.deepEqual((await a)!.removed.map((x) => x.namespace), ['orphan']);
  });
});
