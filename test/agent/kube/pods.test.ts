import assert from 'node:assert/strict';
import { podLiveness, projectPod } from '../../../src/agent/kube/pods.js';
import { livenessFromMarker } from '../../../src/apply/gc.js';
import type { OwnerRecord } from '../../../src/apply/ownership.js';
import { podObj } from '../../kube/helpers.js';
import { waitFor } from '../../support/wait.js';
import { nodeHarness } from './helpers.js';

describe('agent/kube/pods', () => {
  const h = nodeHarness();

  it('watches only the pods of its node, with the field selector on list and watch', async () => {
    for (let i = 0; i < 20; i++) h.srv.put('pods', podObj('team-a', `other-${i}`, { node: 'node-b' }));
    h.srv.put('pods', podObj('team-a', 'mine'));
    const a = await h.startAgent();
    assert.deepEqual([...a.pods.cache.keys()], ['team-a/mine']);
    await waitFor(() => h.srv.requests.some((r) => r.path === '/api/v1/pods' && r.query.watch === 'true'), 'the pod watch');
    assert.ok(h.srv.requests.filter((r) => r.path === '/api/v1/pods').every((r) => r.query.fieldSelector === 'spec.nodeName=node-a'));
  });

  it('keeps only the lsmns and AppArmor annotations and the container states of a pod', () => {
    const o = podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'ns', 'container.lsmns.io/app': 'p', 'container.apparmor.security.beta.kubernetes.io/app': 'localhost/x', 'team.example/big': 'x'.repeat(1000) } });
    const p = projectPod({ ...o, status: { containerStatuses: [{ name: 'app', containerID: 'containerd://abc', state: { running: {} } }] } });
    assert.deepEqual(Object.keys(p.pod.metadata!.annotations!).sort(), ['container.apparmor.security.beta.kubernetes.io/app', 'container.lsmns.io/app', 'lsmns.io/apparmor-namespace']);
    assert.deepEqual(p.containers, [{ name: 'app', id: 'containerd://abc', running: true }]);
    assert.equal(p.key, 'team-a/web');
  });

  it('liveness for GC: none before the first list; a pod\'s namespace lives while the pod is on the node', async () => {
    const rec = (podKey: string, refs: string[] = ['c1']) => ({ podKey, refs }) as OwnerRecord;
    h.srv.put('pods', podObj('team-a', 'web', { uid: 'u-live' }));
    const a = await h.startAgent();
    const isLive = podLiveness(a.pods, 'node-a', livenessFromMarker)!;
    assert.deepEqual(isLive(rec('uid:u-live')), { live: true });
    assert.deepEqual(isLive(rec('uid:u-gone')), { live: false, why: 'its pod (uid u-gone) is gone from node node-a' });
    assert.deepEqual(isLive(rec('sandbox:s1')), { live: true }, 'not a Kubernetes pod: what the marker holds decides');
    assert.deepEqual(isLive(rec('sandbox:s1', [])), { live: false, why: 'no container holds a reference any more' });
    await h.stopAgent();
    const { Informer } = await import('../../../src/kube/informer.js');
    const unlisted = new Informer({ api: h.srv.api(), path: '/api/v1/pods', resource: 'pods', project: projectPod, keyOf: (p) => p.key, versionOf: (p) => p.rv });
    assert.equal(podLiveness(unlisted, 'node-a', livenessFromMarker), null);
  });
});
