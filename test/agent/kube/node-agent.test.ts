import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { collectOrphans } from '../../../src/apply/gc.js';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import type { KubeApi } from '../../../src/kube/client.js';
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

  it('a restarted agent does nothing before all its informers have listed: its policies stay while namespaces list late', async () => {
    h.srv.put('configmaps', { metadata: { name: 'policies', namespace: 'team-a', labels: { 'lsmns.io/policy': 'true' } }, data: { 'web.aa': 'profile web {}\n' } });
    h.srv.put('pods', podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 't-web', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }));
    await h.startAgent();
    const file = join(h.dir, 'policies', 'team-a', 'web.aa');
    assert.ok(existsSync(file));
    await h.stopAgent();
    h.logged.length = 0;
    // As on a busy API server: the pods list answers first, the namespaces list (which opts pods in) much later.
    const api = h.srv.api();
    const late: KubeApi = { ...api, watch: api.watch.bind(api), get: api.get.bind(api), create: api.create.bind(api), replace: api.replace.bind(api), patch: api.patch.bind(api),
      list: async (path, o) => { if (path === '/api/v1/namespaces') await new Promise((r) => setTimeout(r, 300)); return api.list(path, o); } };
    await h.startAgent({ api: late });
    const removed = h.logged.filter((l) => l.msg?.startsWith('removed a synced policy'));
    assert.deepEqual(removed, [], 'a pass before the namespaces listed saw no opted-in pod and removed the policy its pod still uses');
    assert.ok(existsSync(file));
  });

  it('in a burst of informer events, rests between passes at least as long as a pass took, so the served hooks get the rest', async () => {
    const owners = h.owners;
    const passes: { start: number; end: number }[] = [];
    // A pass made slow on purpose (its marker read busy-waits 40 ms), as 100 pods make it on a real node.
    const slow = Object.assign(Object.create(Object.getPrototypeOf(owners)), owners, {
      list: () => {
        const start = performance.now();
        while (performance.now() - start < 40);
        passes.push({ start, end: performance.now() });
        return owners.list();
      },
    });
    const a = await h.startAgent({ owners: slow });
    passes.length = 0;
    const until = performance.now() + 800;
    while (performance.now() < until) { void a.syncNow(); await new Promise((r) => setTimeout(r, 5)); }
    await a.syncNow();
    assert.ok(passes.length >= 4, `passes went on during the burst (${passes.length})`);
    const rests = passes.slice(1).map((p, i) => p.start - passes[i].end);
    assert.ok(rests.every((r) => r >= 38), `rests between passes (ms): ${rests.map((r) => r.toFixed(0)).join(', ')}`);
  });
});
