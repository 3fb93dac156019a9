// containerd's CRI plugin, driven over its socket as kubelet drives it. These tests are why label delivery
// defaults to runtimeclass: containerd refuses a stacked label in the pod's AppArmor field.

import assert from 'node:assert/strict';
import { CriLab, criAvailable } from './lab.js';
import { simEnv, type SimEnv } from '../runtimes/harness.js';

const LABEL = '&:tenantns:lab-profile';

describe('containerd CRI: the AppArmor pod field on the default handler', function () {
  this.timeout(180_000);
  let lab: CriLab;

  before(async function () {
    const why = criAvailable();
    if (why) { console.log(`    skipped: ${why}`); this.skip(); }
    lab = new CriLab({ fakeAppArmor: true });
    await lab.start();
  });
  after(async () => { await lab?.cleanPods(); await lab?.stop(); });

  async function createWith(ref: string, n: number): Promise<string> {
    const sb = lab.sandboxConfig({ name: `field-${n}`, uid: `uid-field-${n}` });
    const { pod_sandbox_id } = await lab.call('RunPodSandbox', { config: sb, runtime_handler: '' });
    try {
      await lab.call('CreateContainer', { pod_sandbox_id, config: lab.containerConfig({ cmd: 'true', apparmor: { profile_type: 'Localhost', localhost_ref: ref } }), sandbox_config: sb });
      return 'created';
    } catch (e) {
      return String((e as { details?: string }).details ?? (e as Error).message);
    }
  }

  it('refuses the stacked label: it is never in the profiles listing (KERNEL-FACTS B7, lab G4)', async () => {
    const err = await createWith(LABEL, 1);
    assert.match(err, /failed to generate apparmor spec opts: apparmor profile not found &:tenantns:lab-profile/);
  });

  it('refuses a namespaced label too on a first start, since it checks before any hook has run', async () => {
    assert.match(await createWith(':tenantns:lab-profile', 2), /apparmor profile not found :tenantns:lab-profile/);
  });

  it('control: a plain profile that is in the listing passes the same check', async () => {
    assert.equal(await createWith('host-web', 3), 'created');
  });
});

describe('containerd CRI: handler lsmns runs the shim (sim backend)', function () {
  this.timeout(180_000);
  let lab: CriLab;
  let e: SimEnv;
  const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

  before(async function () {
    const why = criAvailable();
    if (why) { console.log(`    skipped: ${why}`); this.skip(); }
    e = await simEnv('lsmns-cri-sim-');
    lab = new CriLab({ env: e.env });
    await lab.start();
  });
  after(async () => { await lab?.cleanPods(); await lab?.stop(); });

  it('the pod annotations reach the shim, the container runs under the label, the namespace lives as long as the pod', async () => {
    const sb = lab.sandboxConfig({ name: 'web', uid: '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f', namespace: 'team-a', annotations: { ...ANN, 'other.io/x': 'y' } });
    const { pod_sandbox_id } = await lab.call('RunPodSandbox', { config: sb, runtime_handler: 'lsmns' });
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }], 'the sandbox\'s createRuntime hook made the namespace');
    const { container_id } = await lab.call('CreateContainer', { pod_sandbox_id, config: lab.containerConfig({ cmd: 'echo started; sleep 30' }), sandbox_config: sb });
    await lab.call('StartContainer', { container_id });
    const st = await lab.call('ContainerStatus', { container_id, verbose: true });
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
    const spec = JSON.parse(st.info.info).runtimeSpec as { annotations: Record<string, string> };
    assert.equal(spec.annotations['lsmns.io/apparmor-namespace'], 'tenant-a', 'pod_annotations passed lsmns.io/ keys');
    assert.equal(spec.annotations['other.io/x'], undefined, 'and nothing else');
    const task = e.tasks().find((t) => t.container === container_id);
    assert.equal(task?.label, 'unconfined//&:tenant-a:p (enforce)', 'the app container runs under the planned label (sim)');
    await lab.call('StopContainer', { container_id, timeout: 1 });
    await lab.call('RemoveContainer', { container_id });
    assert.deepEqual(e.namespaces().map((n) => n.name), ['tenant-a'], 'the sandbox still holds the namespace');
    await lab.call('StopPodSandbox', { pod_sandbox_id });
    await lab.call('RemovePodSandbox', { pod_sandbox_id });
    assert.deepEqual(e.namespaces(), [], 'gone with the pod');
  });

  it('a hostile annotation fails the sandbox, and containerd\'s error (from the runtime\'s --log) names the key', async () => {
    const sb = lab.sandboxConfig({ name: 'evil', uid: '6c7d8e9f-0a1b-4c2d-9e3f-5a6b7c8d9e0f', namespace: 'team-a', annotations: { 'lsmns.io/apparmor-namespace': '../../etc' } });
    const before = e.bytes();
    let err = '';
    try {
      await lab.call('RunPodSandbox', { config: sb, runtime_handler: 'lsmns' });
    } catch (x) {
      err = String((x as { details?: string }).details);
    }
    assert.match(err, /lsmns\.io\/apparmor-namespace/, err);
    assert.match(err, /'\.\.'|path traversal/);
    assert.deepEqual(e.namespaces(), []);
    assert.equal(e.bytes(), before, 'the simulated kernel is unchanged');
  });
});
