// Faults on the real cluster: the controllers' leader election through a real Lease.

import assert from 'node:assert/strict';
import { LSMNS_NS, createPod, deleteNamespace, kubectl, kubectlJson, makeNamespace, podDoc, requireCluster, until, type Obj } from './cluster.js';

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
});
