// Host side of the qemu guest: picks an installed Debian kernel, boots it once under TCG with
// scripts/qemu/boot.sh, runs dist/test/qemu/guest/run.js inside, and returns the guest's JSON document.
// A kernel is booted once per test run (bootOnce): every test file that needs that kernel reads the same boot,
// and the Kubernetes path (kube/guest.js) runs in the same boot after the port-level scenarios.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeFacts } from '../../src/kernel/facts.js';
import type { SyscallProbe } from '../../src/kernel/securityfs/helper.js';
import type { ScenarioResult } from '../kernel/fidelity/scenarios.js';
import { buildImages } from '../cri/lab.js';
import { REPO } from './guest/checks.js';

export interface GuestDoc {
  facts: NodeFacts;
  syscallProbe: SyscallProbe;
  scenarios: Record<string, ScenarioResult>;
  checks: Record<string, Record<string, unknown>>;
  leftover: string[];
  timing: { nodeStartedAtUptimeS: number; scenariosMs: number; finishedAtUptimeS: number };
}

export interface GuestRun {
  kver: string;
  doc: GuestDoc | null;
  rc: string;
  output: string;
  console: string;
  /** Host wall time of the whole boot, qemu start to power-off. */
  wallMs: number;
  share: string;
}

function versionKey(v: string): number[] {
  return v.split(/[^0-9]+/).filter(Boolean).map(Number);
}

/** The newest installed kernel whose release matches, with its vmlinuz and modules present; null if none. */
export function installedKernel(match: RegExp): string | null {
  const found = readdirSync('/lib/modules').filter((k) => match.test(k) && existsSync(`/boot/vmlinuz-${k}`));
  found.sort((a, b) => {
    const x = versionKey(a);
    const y = versionKey(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  });
  return found.at(-1) ?? null;
}

const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

export interface BootOptions {
  /** Also run the Kubernetes path (containerd CRI, node agent) in this boot; its output is <share>/kube.out. */
  kube?: boolean;
}

export async function bootGuest(kver: string, o: BootOptions = {}, timeoutS = 900): Promise<GuestRun> {
  const share = mkdtempSync(join(tmpdir(), 'lsmns-qemu-share-'));
  let kube = '';
  if (o.kube) {
    buildImages(); // on the host: the guest sees the repository read-only
    // -nic none leaves only loopback, for the fake API server; the guest's init leaves it down.
    kube = `ip link set lo up\n${process.execPath} ${REPO}/dist/test/qemu/kube/guest.js > /mnt/kube.out 2>&1\n`;
  }
  // LSMNS_GUEST_ONLY=name,... runs only those guest checks (the fidelity scenarios always run): for working on one.
  const only = process.env.LSMNS_GUEST_ONLY && /^[a-z,-]+$/.test(process.env.LSMNS_GUEST_ONLY) ? `LSMNS_GUEST_ONLY=${process.env.LSMNS_GUEST_ONLY} ` : '';
  writeFileSync(join(share, 'guest.sh'), `#!/bin/sh\n${only}${process.execPath} ${REPO}/dist/test/qemu/guest/run.js /mnt/results.json || exit $?\n${kube}`, { mode: 0o755 });
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(`${REPO}/scripts/qemu/boot.sh`, [kver, share, 'guest.sh'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, QEMU_TIMEOUT: String(timeoutS) } });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scripts/qemu/boot.sh ${kver} exited with ${code}; console:\n${read(join(share, 'console.log')).slice(-3000)}`))));
  });
  const wallMs = Math.round(performance.now() - t0);
  const results = join(share, 'results.json');
  return {
    kver, share, wallMs,
    doc: existsSync(results) ? (JSON.parse(readFileSync(results, 'utf8')) as GuestDoc) : null,
    rc: read(join(share, 'guest.rc')).trim(),
    output: read(join(share, 'guest.out')),
    console: read(join(share, 'console.log')),
  };
}

const boots = new Map<string, Promise<GuestRun>>();

/** One boot per kernel per test run, shared by every test file that asks for that kernel. */
export function bootOnce(kver: string, o: BootOptions = {}): Promise<GuestRun> {
  let b = boots.get(kver);
  if (!b) {
    b = bootWithRetry(kver, o);
    boots.set(kver, b);
  }
  return b;
}

/**
 * A guest kernel that panics under TCG (seen once on 6.12: an int3 Oops in kmem_cache_free while qemu patched
 * kernel text on 2 vCPUs) is the emulator failing, not a result: boot again once, and say so. A panic that
 * lsmns caused would happen again and still fail.
 */
async function bootWithRetry(kver: string, o: BootOptions): Promise<GuestRun> {
  const first = await bootGuest(kver, o);
  if (first.rc !== '' || !/Kernel panic/.test(first.console)) return first;
  process.stdout.write(`\n    [${kver}] the guest kernel panicked before the run finished (${(/RIP: (\S+)/.exec(first.console)?.[1]) ?? 'see console.log'}); booting once more\n`);
  return bootGuest(kver, o);
}

/** The Kubernetes path runs in the 6.1 boot when containerd's CRI can run here. */
export const KUBE_KERNEL = /^6\.1\.\d+-\d+-amd64$/;
