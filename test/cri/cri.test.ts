// containerd's CRI plugin, driven over its socket as kubelet drives it. These tests are why label delivery
// defaults to runtimeclass: containerd refuses a stacked label in the pod's AppArmor field.

import assert from 'node:assert/strict';
import { CriLab, criAvailable } from './lab.js';

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
