// The Kubernetes path on a real AppArmor kernel (Debian 6.1 under qemu TCG): containerd's CRI with handler
// lsmns and the securityfs backend confines the container in its pod's namespace, and the node agent sets
// lsmns.io/Confined from the label it reads in /proc. The guest half is guest.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImages, criAvailable } from '../../cri/lab.js';
import { tempDir } from '../../kernel/sim/helpers.js';

const HERE = fileURLToPath(new URL('../../../../test/qemu/kube/', import.meta.url));
const GUEST_JS = fileURLToPath(new URL('./guest.js', import.meta.url));

function qemuMissing(): string | null {
  const why = criAvailable();
  if (why) return why;
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64 && command -v apparmor_parser && command -v cpio']).status !== 0) return 'qemu-system-x86, apparmor or cpio is not installed (scripts/deps.sh installs them)';
  if (!readdirSync('/boot').some((f) => /^vmlinuz-6\.1\./.test(f))) return 'no Debian 6.1 kernel in /boot (linux-image-amd64)';
  if (GUEST_JS.startsWith('/tmp/')) return 'the repository must not live under /tmp (a tmpfs in the guest)';
  return null;
}

describe('qemu AppArmor guest: CRI handler lsmns, securityfs backend, node agent Confined', function () {
  this.timeout(1_200_000);
  const r: Record<string, any> = {};
  let guestOut = '';

  before(function () {
    const why = qemuMissing();
    if (why) { console.log(`    skipped: ${why}`); this.skip(); }
    buildImages(); // on the host: the guest sees the repository read-only
    const share = tempDir('lsmns-qemu-kube-');
    writeFileSync(join(share, 'guest.sh'), `#!/bin/sh\n# -nic none: only loopback, for the fake API server; the guest's init leaves it down\nip link set lo up\nexec node ${GUEST_JS}\n`, { mode: 0o755 });
    const t0 = Date.now();
    const run = spawnSync('bash', [join(HERE, 'boot.sh'), share, 'guest.sh'], { encoding: 'utf8', timeout: 1_100_000 });
    guestOut = existsSync(join(share, 'guest.out')) ? readFileSync(join(share, 'guest.out'), 'utf8') : '';
    console.log(`    guest ran ${((Date.now() - t0) / 1000).toFixed(0)} s (qemu exit ${run.status})`);
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
