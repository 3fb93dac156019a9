// The Kubernetes path on a real AppArmor kernel (Debian 6.1 under qemu TCG): containerd's CRI with handler
// lsmns and the securityfs backend confines the container in its pod's namespace, and the node agent sets
// lsmns.io/Confined from the label it reads in /proc. The guest half is guest.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { criAvailable } from '../../cri/lab.js';
import { bootOnce, installedKernel, KUBE_KERNEL } from '../harness.js';

function qemuMissing(): string | null {
  const why = criAvailable();
  if (why) return why;
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64 && command -v apparmor_parser && command -v cpio']).status !== 0) return 'qemu-system-x86, apparmor or cpio is not installed (scripts/deps.sh installs them)';
  return null;
}

describe('qemu AppArmor guest: CRI handler lsmns, securityfs backend, node agent Confined', function () {
  this.timeout(1_200_000);
  const r: Record<string, any> = {};
  let guestOut = '';

  before(async function () {
    const why = qemuMissing();
    if (why) { console.log(`    skipped: ${why}`); this.skip(); }
    const kver = installedKernel(KUBE_KERNEL);
    assert.ok(kver, 'no Debian 6.1 kernel in /boot (scripts/deps.sh installs linux-image-amd64)');
    // The same boot as the 6.1 port-level scenarios (qemu.test.ts): kube/guest.js runs after them.
    const run = await bootOnce(kver, { kube: true });
    const out = join(run.share, 'kube.out');
    guestOut = existsSync(out) ? readFileSync(out, 'utf8') : '';
    for (const l of guestOut.split('\n')) if (l.startsWith('RESULT ')) { const x = JSON.parse(l.slice(7)) as { k: string; v: unknown }; r[x.k] = x.v; }
    if (r.error) console.log(guestOut.slice(-4000));
    if (r['stop-retry']) console.log(`    note: StopContainer was retried once: ${String(r['stop-retry'])}`);
  });

  it('the guest ran on the AppArmor kernel without errors', () => {
    assert.ok(r.kernel, `no results from the guest:\n${guestOut.slice(-3000)}`);
    assert.match(String(r.kernel), /^6\.1\./);
    assert.equal(r.error, undefined, String(r.error));
  });

  it('the shim wrote the stacked label; the container sees its profile and the deny rule holds', () => {
    assert.equal(r.apparmorProfile, 'cri-containerd.apparmor.d', 'containerd\'s own spec keeps its default; the shim changed only the bundle\'s config.json');
    assert.equal(r['node-view'], 'cri-containerd.apparmor.d//&:tenant-k:p (enforce)', 'the default is kept as the host bound');
    assert.ok((r['container-log'] as string[]).includes('attr: p (enforce)'), JSON.stringify(r['container-log']));
    assert.ok((r['container-log'] as string[]).includes('secret: DENIED'));
  });

  it('the agent set lsmns.io/Confined True from the init\'s label, with the Events', () => {
    const c = (r.condition as { type: string; status: string; message: string }[]).find((x) => x.type === 'lsmns.io/Confined');
    assert.equal(c?.status, 'True', JSON.stringify(r.condition));
    assert.match(c!.message, /cri-containerd\.apparmor\.d\/\/&:tenant-k:p/);
    const ev = (r.events as string[]).map((e) => e.split(':')[0]).sort();
    assert.deepEqual(ev, ['Confined', 'NamespaceCreated', 'PolicyLoaded']);
    assert.equal((r['node-labels'] as Record<string, string>)['lsmns.io/apparmor'], 'true');
  });

  it('the namespace lives as long as the pod', () => {
    assert.ok((r['namespaces-after-sandbox'] as string[]).includes('tenant-k'));
    assert.ok((r['namespaces-after-container'] as string[]).includes('tenant-k'), 'the sandbox still holds it');
    assert.ok(!(r['namespaces-after-pod'] as string[]).includes('tenant-k'), 'removed with the pod');
  });
});
