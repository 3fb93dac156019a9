// Faults on the real cluster: the controllers' leader election through a real Lease, and an API server restart
// under the controllers' and the agent's watches.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LSMNS_NS, REPO, createPod, deleteNamespace, kubectl, kubectlJson, kubectlOk, makeNamespace, podDoc, requireCluster, until, type Obj } from './cluster.js';

const NS = 'lsmns-t-faults';

describe('cluster: faults', function () {
  this.timeout(300_000);
  before(function () {
    requireCluster();
    makeNamespace(NS, { 'lsmns.io/enabled': 'true' });
  });
  after(() => deleteNamespace(NS));

  it('deleting the leader controller pod: the other replica takes the Lease and goes on validating', async () => {
    const pods = () => (kubectlJson(['-n', LSMNS_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=lsmns-controller']).items as Obj[])
      .filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name as string);
    const holder = () => kubectlJson(['-n', LSMNS_NS, 'get', 'lease', 'lsmns-controller']).spec.holderIdentity as string;
    const before = await until('a Lease holder among the controller pods', 60_000, () => (pods().includes(holder()) ? holder() : undefined));
    const other = pods().find((p) => p !== before);
    assert.ok(other, `only ${pods().join(', ')}`);
    kubectl(['-n', LSMNS_NS, 'delete', 'pod', before, '--wait=false']);
    const after = await until('the other replica holding the Lease', 120_000, () => (holder() === other ? other : undefined));
    assert.equal(after, other);
    const r = createPod(podDoc('after-failover', NS, { annotations: { 'lsmns.io/apparmor-namespace': 'failover' } }), true);
    assert.equal(r.error, undefined);
    assert.equal(r.pod!.spec.runtimeClassName, 'lsmns');
    kubectl(['-n', LSMNS_NS, 'rollout', 'status', 'deployment/lsmns-controller', '--timeout=180s']);
  });

  it('restarting the API server: the controller\'s watches recover by themselves, and no lsmns pod restarts', async () => {
    const lsmnsPods = () => (kubectlJson(['-n', LSMNS_NS, 'get', 'pods']).items as Obj[])
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => `${p.metadata.name} restarts=${(p.status.containerStatuses as Obj[] | undefined)?.map((c) => c.restartCount).join(',')}`).sort();
    const before = lsmnsPods();
    const r = spawnSync('bash', [join(REPO, 'scripts', 'cluster', 'restart-apiserver.sh')], { encoding: 'utf8', timeout: 150_000 });
    assert.equal(r.status, 0, r.stderr);
    // A pod with a bad annotation admitted before its namespace opted in: once the label comes, only a controller
    // whose namespace and pod watches came back can see it and record the Event.
    const ns = 'lsmns-t-faults-late';
    makeNamespace(ns);
    try {
      const bad = createPod(podDoc('bad', ns, { annotations: { 'lsmns.io/apparmor-namespace': 'bad..name' } }));
      assert.equal(bad.error, undefined);
      kubectlOk(['label', 'namespace', ns, 'lsmns.io/enabled=true']);
      const ev = await until('Event InvalidAnnotation from lsmns-controller', 90_000, () =>
        (kubectlJson(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=bad']).items as Obj[])
          .find((e) => e.reason === 'InvalidAnnotation' && e.source?.component === 'lsmns-controller'));
      assert.match(ev.message, /bad\.\.name/);
    } finally {
      deleteNamespace(ns);
    }
    await until('every lsmns pod Ready again', 90_000, () =>
      ((kubectlJson(['-n', LSMNS_NS, 'get', 'pods']).items as Obj[]).every((p) => p.metadata.deletionTimestamp || (p.status.conditions as Obj[]).some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined));
    assert.deepEqual(lsmnsPods(), before);
  });
});
