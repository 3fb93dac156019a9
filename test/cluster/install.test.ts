// lsmns installed from its manifests on a real API server (make cluster-up applied manifests/overlays/local).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, LSMNS_NS, deleteNamespace, kubectl, kubectlJson, kubectlOk, requireCluster, type Obj } from './cluster.js';

describe('cluster: install from manifests/', function () {
  this.timeout(300_000);
  before(requireCluster);

  it('runs the versions pinned in scripts/cluster/versions, and says so (kubectl, API server, kubelet)', () => {
    const pinned = /^KUBERNETES=(\S+)$/m.exec(readFileSync(join(REPO, 'scripts', 'cluster', 'versions'), 'utf8'))?.[1];
    assert.match(pinned ?? '', /^v1\.\d+\.\d+$/);
    const v = JSON.parse(kubectlOk(['version', '-o', 'json']));
    assert.equal(v.clientVersion.gitVersion, pinned);
    assert.equal(v.serverVersion.gitVersion, pinned);
    const node = kubectlJson(['get', 'nodes']).items[0] as Obj;
    assert.equal(node.status.nodeInfo.kubeletVersion, pinned);
    assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/\d/);
  });

  it('every object of the base exists on the API server, as the overlay rendered it', () => {
    const yaml = kubectlOk(['kustomize', join(REPO, 'manifests', 'overlays', 'local')]);
    const docs = yaml.split(/^---$/m).filter((d) => d.trim());
    assert.ok(docs.length >= 10, `rendered ${docs.length} objects`);
    const list = kubectlJson(['get', '-f', '-'], yaml);
    const items = (list.items ?? [list]) as Obj[];
    assert.equal(items.length, docs.length);
    for (const o of items) assert.ok(o.metadata.uid, `${o.kind}/${o.metadata.name} has no uid`);
    const kinds = new Set(items.map((o) => o.kind));
    for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'RuntimeClass', 'Deployment', 'Service',
      'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'DaemonSet']) {
      assert.ok(kinds.has(k), `no ${k} among ${[...kinds].join(', ')}`);
    }
  });

  it('a server-side dry run of the overlay is accepted as it stands', () => {
    const r = kubectl(['apply', '--server-side', '--dry-run=server', '--force-conflicts', '-k', join(REPO, 'manifests', 'overlays', 'local')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /daemonset\.apps\/lsmns-agent serverside-applied \(server dry run\)/);
  });

  it('the webhook got its CA from scripts/webhook-cert.sh, and the agent and both controllers are Ready', () => {
    const mwc = kubectlJson(['get', 'mutatingwebhookconfiguration', 'lsmns']);
    assert.ok((mwc.webhooks[0].clientConfig.caBundle ?? '').length > 100, 'caBundle is empty');
    const ds = kubectlJson(['-n', LSMNS_NS, 'get', 'daemonset', 'lsmns-agent']);
    assert.equal(ds.status.numberReady, 1);
    const dep = kubectlJson(['-n', LSMNS_NS, 'get', 'deployment', 'lsmns-controller']);
    assert.equal(dep.status.readyReplicas, 2);
  });

  describe('examples, by server-side dry run (admission runs, nothing is stored)', () => {
    const ns = 'team-a';
    before(() => {
      // The examples' namespace must exist for a dry run of the objects in it; it is created from the example itself.
      const nsDoc = kubectlOk(['kustomize', join(REPO, 'manifests', 'examples')]).split(/^---$/m).find((d) => /kind: Namespace/.test(d) && /name: team-a/.test(d));
      assert.ok(nsDoc, 'manifests/examples has no Namespace team-a');
      kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=60s', '--ignore-not-found']);
      kubectlOk(['create', '-f', '-'], nsDoc);
    });
    after(() => deleteNamespace(ns));

    it('manifests/examples is accepted, and its pods are admitted with runtimeClassName lsmns', () => {
      const out = kubectlJson(['apply', '--dry-run=server', '-k', join(REPO, 'manifests', 'examples')]);
      const items = (out.items ?? [out]) as Obj[];
      const pods = items.filter((o) => o.kind === 'Pod');
      assert.ok(pods.length >= 2, `dry run returned ${items.map((o) => o.kind).join(', ')}`);
      for (const p of pods) assert.equal(p.spec.runtimeClassName, 'lsmns', `${p.metadata.name}: ${JSON.stringify(p.spec.runtimeClassName)}`);
    });

    it('examples/pod.yaml is accepted in an opted-in namespace', () => {
      const r = kubectl(['apply', '--dry-run=server', '-n', ns, '-f', join(REPO, 'examples', 'pod.yaml'), '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
    });
  });
});
