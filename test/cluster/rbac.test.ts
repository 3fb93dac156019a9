// RBAC as the real API server enforces it: the agent and both controllers run as pods under their own
// ServiceAccounts, so manifests/base/rbac.yaml is all that authorizes them.

import assert from 'node:assert/strict';
import { LSMNS_NS, kubectlJson, kubectlOk, requireCluster, type Obj } from './cluster.js';

/** What each ServiceAccount may do, from manifests/base/rbac.yaml (manifests/README.md's table), by resource. */
const EXPECTED: Record<string, Record<string, string>> = {
  'lsmns-controller': {
    pods: 'get list watch',
    namespaces: 'get list watch',
    events: 'create patch',
    'leases.coordination.k8s.io': 'create',
    'leases.coordination.k8s.io[lsmns-controller]': 'get update',
  },
  'lsmns-agent': {
    pods: 'get list watch',
    'pods/status': 'patch',
    events: 'create patch',
    configmaps: 'get list watch',
    namespaces: 'get list watch',
    nodes: 'get patch',
  },
};
// What any ServiceAccount may do without lsmns's RBAC (the API server's bootstrap policy: self reviews,
// ClusterTrustBundles): asked of one that has no bindings.
const BASELINE_SA = 'lsmns-test-no-bindings';

/** `kubectl auth can-i --list` as a ServiceAccount: resource[names] -> verbs, non-resource URLs left out. */
function canIList(sa: string): Record<string, string> {
  const out = kubectlOk(['auth', 'can-i', '--list', '-n', LSMNS_NS, `--as=system:serviceaccount:${LSMNS_NS}:${sa}`]);
  const rows: Record<string, string> = {};
  for (const line of out.split('\n').slice(1)) {
    const m = /^(\S*)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$/.exec(line);
    if (!m || !m[1] || m[2]) continue; // a non-resource URL row
    const key = m[3] ? `${m[1]}[${m[3]}]` : m[1];
    const verbs = new Set([...(rows[key] ?? '').split(' ').filter(Boolean), ...m[4]!.split(' ').filter(Boolean)]);
    rows[key] = [...verbs].sort().join(' ');
  }
  return rows;
}

describe('cluster: RBAC of the agent and the controllers', function () {
  this.timeout(120_000);
  before(requireCluster);

  for (const [sa, expected] of Object.entries(EXPECTED)) {
    it(`${sa}: kubectl auth can-i --list is exactly rbac.yaml's rules (no wildcard, no secrets)`, () => {
      const got = canIList(sa);
      const baseline = canIList(BASELINE_SA);
      assert.ok(Object.keys(baseline).length > 0, 'the baseline lists nothing');
      const ours = Object.fromEntries(Object.entries(got).filter(([k, v]) => baseline[k] !== v));
      const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.split(' ').sort().join(' ')]));
      assert.deepEqual(ours, want);
      assert.ok(!Object.keys(got).some((k) => k.startsWith('*') || k.startsWith('secrets')), JSON.stringify(got));
    });
  }

  it('the agent and both controllers run under their own ServiceAccounts, and no log line says forbidden', () => {
    const pods = kubectlJson(['-n', LSMNS_NS, 'get', 'pods']).items as Obj[];
    const bySa = (sa: string) => pods.filter((p) => p.spec.serviceAccountName === sa && p.status.phase === 'Running');
    assert.equal(bySa('lsmns-agent').length, 1, 'agent pods');
    assert.equal(bySa('lsmns-controller').length, 2, 'controller pods');
    for (const p of [...bySa('lsmns-agent'), ...bySa('lsmns-controller')]) {
      const logs = kubectlOk(['-n', LSMNS_NS, 'logs', p.metadata.name, '--all-containers']);
      assert.ok(logs.length > 0, `${p.metadata.name} logged nothing`);
      const bad = logs.split('\n').filter((l) => /forbidden/i.test(l));
      assert.deepEqual(bad, [], `${p.metadata.name}`);
    }
  });
});
