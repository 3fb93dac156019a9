// Issue 16 on a real AppArmor kernel: failures injected after the real mkdir of a namespace (a policy load that
// fails before or after the kernel took it, the listing before it) must leave no namespace in securityfs and no
// marker; hooks SIGKILLed after the mkdir leave namespaces that `lsmns gc` removes, each and only those that
// the journal proves lsmns made, while an unmarked namespace and one a live container holds stay. Returns data;
// test/qemu/qemu.test.ts judges it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveOptions } from '../../../src/config.js';
import { toLsmnsError } from '../../../src/errors.js';
import { runHook } from '../../../src/oci/hook.js';
import { policyStoreOf } from '../../../src/policy/store.js';
import { OciRuntime } from '../../../src/kernel/securityfs/runtime.js';
import type { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { TENANT } from '../../kernel/fidelity/scenarios.js';
import { faultyPort, type Fault } from '../../apply/fault-port.js';

const SFS = '/sys/kernel/security';
const namespaces = () => readdirSync(`${SFS}/apparmor/policy/namespaces`).sort();

/** The faults after the mkdir: the policy load refused, or cut after the kernel took it; the listing before it. */
export const AFTER_MKDIR_FAULTS: (Omit<Fault, 'nth'> & { name: string })[] = [
  { name: 'load-EIO-before', op: 'loadPolicy', errno: 'EIO', when: 'before' },
  { name: 'load-EACCES-before', op: 'loadPolicy', errno: 'EACCES', when: 'before' },
  { name: 'load-ENOSPC-after', op: 'loadPolicy', errno: 'ENOSPC', when: 'after' },
  { name: 'load-EBUSY-after', op: 'loadPolicy', errno: 'EBUSY', when: 'after' },
  { name: 'list-EIO', op: 'listProfiles', errno: 'EIO', when: 'before' },
];
/** Hook kill points after the mkdir: only from "marker-ready" on does the journal prove the namespace is lsmns's. */
export const AFTER_MKDIR_KILLS = ['mkdir', 'marker-ready', 'policy-load', 'policy-marker'] as const;

/** SIGKILL and reap a child, so that its pid is free (and it is not counted as a task the run left behind). */
async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((res) => c.once('exit', res));
  c.kill('SIGKILL');
  await exited;
}

export async function reliabilityCheck(k: SecurityfsKernel, repo: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync('/tmp/lsmns-rel-');
  const options = resolveOptions({ backend: 'securityfs', securityfs: SFS, stateDir: join(dir, 'state'), policyDir: join(dir, 'policies'), hostProfileDir: join(dir, 'host-profiles') }, {});
  mkdirSync(options.policyDir, { recursive: true });
  mkdirSync(options.hostProfileDir, { recursive: true });
  writeFileSync(join(options.policyDir, 'web.aa'), TENANT.text);
  const env = { ...process.env, LSMNS_BACKEND: 'securityfs', LSMNS_SECURITYFS: SFS, LSMNS_STATE_DIR: options.stateDir, LSMNS_POLICY_DIR: options.policyDir, LSMNS_HOST_PROFILE_DIR: options.hostProfileDir };
  const lsmns = `${repo}/bin/lsmns.cjs`;
  const markers = () => {
    const root = join(options.stateDir, 'owners');
    return existsSync(root) ? readdirSync(root).flatMap((d) => readdirSync(join(root, d))).sort() : [];
  };
  const bundle = (ns: string) => {
    const b = join(dir, ns);
    mkdirSync(b);
    writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'], cwd: '/' }, root: { path: 'rootfs' }, annotations: { 'lsmns.io/apparmor-namespace': ns, 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' } }));
    return b;
  };
  const state = (ns: string, id: string, pid?: number) => ({ ociVersion: '1.0.2', id, status: 'creating' as const, bundle: join(dir, ns), annotations: { 'lsmns.io/apparmor-namespace': ns, 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' }, ...(pid ? { pid } : {}) });
  const hook = (stage: string, s: object, extra: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [lsmns, 'hook', stage], { input: JSON.stringify(s), encoding: 'utf8', env: { ...env, ...extra }, timeout: 120_000 });
  const deps = (kernel = k as SecurityfsKernel | ReturnType<typeof faultyPort>) => ({ backend: { kernel, runtime: new OciRuntime(k, options.stateDir) }, policies: policyStoreOf(options), stateDir: options.stateDir, policyWaitMs: 0 });

  // Faults after the real mkdir, in process through the kernel port: exit 4, nothing left; then the same
  // container without a fault works, and its poststop leaves nothing.
  const faults: Record<string, unknown>[] = [];
  for (const f of AFTER_MKDIR_FAULTS) {
    const ns = `rel-f-${f.name.toLowerCase()}`;
    bundle(ns);
    const before = { namespaces: namespaces(), markers: markers() };
    let seenDuring = false;
    const port = faultyPort(k, { ...f, nth: 1 });
    const orig = (port[f.op] as (...a: unknown[]) => Promise<unknown>).bind(port);
    // Proof that the fault came after the real mkdir: the namespace is there when the faulty call is made.
    (port as unknown as Record<string, unknown>)[f.op] = (...a: unknown[]) => {
      seenDuring ||= namespaces().includes(ns);
      return orig(...a);
    };
    let error: { code: string; exitCode: number; message: string } | null = null;
    try {
      await runHook('createRuntime', state(ns, 'c1'), deps(port));
    } catch (e) {
      const err = toLsmnsError(e);
      error = { code: err.code, exitCode: err.exitCode, message: err.message };
    }
    const after = { namespaces: namespaces(), markers: markers() };
    let retry: string;
    try {
      await runHook('createRuntime', state(ns, 'c1'), deps());
      const during = namespaces().includes(ns);
      await runHook('poststop', state(ns, 'c1'), deps());
      retry = during && !namespaces().includes(ns) ? 'ok' : `namespace during ${during}, after ${namespaces().includes(ns)}`;
    } catch (e) {
      retry = toLsmnsError(e).message;
    }
    faults.push({ name: f.name, ns, seenDuring, error, unchanged: JSON.stringify(before) === JSON.stringify(after), before, after, retry, markersEnd: markers() });
  }

  // Hooks SIGKILLed after the mkdir (their container gone), beside an unmarked namespace and a live container.
  await k.createNamespace('rel-foreign');
  const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
  bundle('rel-live');
  const live = hook('createRuntime', state('rel-live', 'live', holder.pid));
  const kills: Record<string, unknown>[] = [];
  for (const point of AFTER_MKDIR_KILLS) {
    const ns = `rel-k-${point}`;
    bundle(ns);
    // The container's init: alive while its hook runs (its pid and start time are recorded), gone before GC.
    const init = spawn('sleep', ['600'], { stdio: 'ignore' });
    const r = hook('createRuntime', state(ns, `k-${point}`, init.pid), { LSMNS_TEST_CRASH_AT: point });
    await stopChild(init);
    kills.push({ point, ns, signal: r.signal, left: namespaces().includes(ns) });
  }
  const beforeGc = namespaces();
  const gc = spawnSync(process.execPath, [lsmns, 'gc', '--grace', '0', '--output', 'json'], { encoding: 'utf8', env, timeout: 120_000 });
  const afterGc = { namespaces: namespaces(), markers: markers() };
  const second = spawnSync(process.execPath, [lsmns, 'gc', '--grace', '0', '--output', 'json'], { encoding: 'utf8', env, timeout: 120_000 });
  const liveStop = hook('poststop', state('rel-live', 'live'));
  await stopChild(holder);
  // What GC leaves by design goes by hand: the unmarked namespace and the one nothing proves lsmns made.
  for (const ns of ['rel-foreign', 'rel-k-mkdir']) if (namespaces().includes(ns)) await k.removeNamespace(ns);
  return {
    faults,
    kills, beforeGc, afterGc,
    live: { status: live.status, stderr: live.stderr.trim(), stopStatus: liveStop.status },
    gc: { status: gc.status, report: JSON.parse(gc.stdout || 'null') as unknown, stderr: gc.stderr.trim() },
    secondGc: { status: second.status, report: JSON.parse(second.stdout || 'null') as unknown },
    end: { namespaces: namespaces(), markers: markers() },
  };
}
