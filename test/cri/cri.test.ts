// containerd's CRI plugin, driven over its socket as kubelet drives it. These tests are why label delivery
// defaults to runtimeclass: containerd refuses a stacked label in the pod's AppArmor field.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CriLab, criAvailable, installedNode, type InstalledNode } from './lab.js';
import { renderContainerdHandler } from '../../src/install/runtime-handler.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { LSMNS, type SimEnv } from '../runtimes/harness.js';
import { FRONTS } from '../support/fronts.js';

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

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

/** The pod's whole life through handler lsmns: the namespace comes with the sandbox and goes with it. */
async function podLifecycle(lab: CriLab, e: SimEnv, n: number): Promise<void> {
  const sb = lab.sandboxConfig({ name: `web-${n}`, uid: `7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7${n}`, namespace: 'team-a', annotations: { ...ANN, 'other.io/x': 'y' } });
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
  assert.deepEqual(e.namespaces().map((x) => x.name), ['tenant-a'], 'the sandbox still holds the namespace');
  await lab.call('StopPodSandbox', { pod_sandbox_id });
  await lab.call('RemovePodSandbox', { pod_sandbox_id });
  assert.deepEqual(e.namespaces(), [], 'gone with the pod');
}

/** A hostile annotation fails the sandbox; containerd's error (from the runtime's --log) names the key. */
async function hostileRefused(lab: CriLab, e: SimEnv, n: number): Promise<void> {
  const sb = lab.sandboxConfig({ name: `evil-${n}`, uid: `6c7d8e9f-0a1b-4c2d-9e3f-5a6b7c8d9e0${n}`, namespace: 'team-a', annotations: { 'lsmns.io/apparmor-namespace': '../../etc' } });
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
}

// The node exactly as installed: `lsmns install --root DIR ...` and `lsmns install --root DIR --containerd`
// wrote everything; containerd has no LSMNS_* variable and neither lsmns nor node on its PATH; the agent
// (served) reads DIR's node.conf through --config. Before node.conf this failed with exit 127 (no lsmns).
for (const mode of ['standalone', 'served'] as const) {
  describe(`containerd CRI: a node laid out by lsmns install (${mode}, sim backend)`, function () {
    this.timeout(180_000);
    let lab: CriLab;
    let e: SimEnv;
    let node: InstalledNode;

    before(async function () {
      const why = criAvailable();
      if (why) { console.log(`    skipped: ${why}`); this.skip(); }
      node = await installedNode(`lsmns-cri-${mode}-`, mode);
      e = node.e;
      assert.match(node.handler, /^# containerd config version 2, from /m, 'it says where the version came from');
      lab = new CriLab({ handler: node.handler, nodeEnv: true });
      await lab.start();
    });
    after(async () => { await lab?.cleanPods(); await lab?.stop(); await node?.stop(); });

    it('an opted-in pod runs under its label, and its namespace lives as long as the pod', async () => {
      await podLifecycle(lab, e, mode === 'served' ? 1 : 2);
      // The standalone shim and hooks log to the state dir's hook.log; served, the agent logs (on its stderr).
      const log = join(e.options.stateDir, 'hook.log');
      if (mode === 'served') assert.equal(existsSync(log), false, 'no standalone shim or hook ran');
      else assert.match(readFileSync(log, 'utf8'), /"front":"shim".*"event":"prepared"/);
    });

    it('a hostile annotation fails the sandbox, and containerd\'s error names the key', async () => {
      await hostileRefused(lab, e, mode === 'served' ? 1 : 2);
    });
  });
}

// No silent sim on a node: the front as shipped, never configured (no node.conf, no LSMNS_* variable), with
// lsmns on containerd's PATH as an npm install puts it, on a host where AppArmor is enabled (faked in
// containerd's mount namespace, where /var/lib is a private tmpfs so that the default state dir is not the
// host's). The annotated pod is refused with exit 3, naming node.conf and the remedy.
for (const front of FRONTS) describe(`containerd CRI: an unconfigured shim (${front.name} front) on an AppArmor host refuses the annotated pod`, function () {
  this.timeout(180_000);
  let lab: CriLab;

  before(async function () {
    const why = criAvailable();
    if (why) { console.log(`    skipped: ${why}`); this.skip(); }
    const bin = join(tempDir('lsmns-cri-npm-'), 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'lsmns'), `#!/bin/sh\nexec ${process.execPath} ${LSMNS} "$@"\n`, { mode: 0o755 });
    lab = new CriLab({
      fakeAppArmor: true, nodeEnv: true, pathFirst: [bin], mountSetup: ['mount -t tmpfs -o size=8m lsmns-var /var/lib'],
      handler: renderContainerdHandler(2, { shimPath: front.path }),
    });
    await lab.start();
  });
  after(async () => { await lab?.cleanPods(); await lab?.stop(); });

  it('RunPodSandbox fails, and containerd\'s error names node.conf and lsmns install', async () => {
    const sb = lab.sandboxConfig({ name: 'unconf', uid: '1c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e70', namespace: 'team-a', annotations: ANN });
    let err = '';
    try {
      await lab.call('RunPodSandbox', { config: sb, runtime_handler: 'lsmns' });
    } catch (x) {
      err = String((x as { details?: string }).details);
    }
    // containerd shows the runtime's --log line, not its exit code (3: test/oci/node-guard.test.ts).
    assert.match(err, /lsmns runtime create: this host has AppArmor enabled, but there is no node configuration \(\/etc\/lsmns\/node\.conf/);
    assert.match(err, /remedy: run lsmns install/);
  });

  it('an unannotated pod on the same handler still runs', async () => {
    const sb = lab.sandboxConfig({ name: 'plain', uid: '1c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e71', namespace: 'team-a' });
    const { pod_sandbox_id } = await lab.call('RunPodSandbox', { config: sb, runtime_handler: 'lsmns' });
    await lab.call('StopPodSandbox', { pod_sandbox_id });
    await lab.call('RemovePodSandbox', { pod_sandbox_id });
  });
});
