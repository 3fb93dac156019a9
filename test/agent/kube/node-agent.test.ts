import assert from 'node:assert/strict';
import { join } from 'node:path';
import { collectOrphans } from '../../../src/apply/gc.js';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import { podObj } from '../../kube/helpers.js';
import { waitFor } from '../../support/wait.js';
import { nodeHarness } from './helpers.js';

describe('agent/kube/node-agent (fake API server, sim kernel)', () => {
  const h = nodeHarness();

  it('GC removes the namespace of a pod gone for the grace period, never a foreign one', async () => {
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000001', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-web' } });
    await h.runPodOnNode(pod);
    await h.port.createNamespace('foreign');
    h.srv.put('pods', pod);
    const a = await h.startAgent();
    // The agent's GC asks the node agent's liveness, and keeps when each namespace was first seen dead.
    const deadSince = new Map<string, number>();
    const gc = () => collectOrphans({ owners: h.owners, port: h.port, isLive: a.liveness()!, now: () => h.clock, graceMs: 5_000, deadSince });
    assert.deepEqual((await gc()).removed, []);
    assert.ok(await h.port.namespaceExists('tenant-web'));
    h.srv.remove('pods', 'team-a', 'web');
    await waitFor(() => !h.agent!.pods.cache.has('team-a/web'), 'the delete');
    await gc();
    assert.ok(await h.port.namespaceExists('tenant-web'), 'kept during the grace period');
    h.clock += 6_000;
    const r = await gc();
    assert.deepEqual(r.removed.map((c) => [c.namespace, c.why]), [['tenant-web', 'its pod (uid a1b2c3d4-0000-4000-8000-000000000001) is gone from node node-a']]);
    assert.equal(await h.port.namespaceExists('tenant-web'), false, 'removed after the grace period');
    assert.equal(h.owners.get('tenant-web'), null);
    assert.ok(await h.port.namespaceExists('foreign'), 'a namespace lsmns did not create is never touched');
  });

  it('records NotPossibleOnNode once when this node cannot host the pod', async () => {
    h.port = new SimKernel({ path: join(h.dir, 'sim-selinux.json'), boot: { lsm: 'capability,selinux', kernel: '6.1.0-sim' } });
    h.srv.put('pods', podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'tenant-a' } }));
    await h.startAgent();
    await h.agent!.syncNow();
    const ev = h.srv.events.map((e) => e.body as { reason: string; message: string; type: string });
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.reason, 'NotPossibleOnNode');
    assert.equal(ev[0]!.type, 'Warning');
    assert.match(ev[0]!.message, /AppArmorNotActive: AppArmor is not among the active LSMs/);
  });
});
