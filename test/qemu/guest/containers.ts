// End-to-end containers in the guest, on the real kernel with the securityfs backend: runc and crun run a
// busybox container with lsmns's hooks (hook mode) or through `lsmns runtime` (shim mode). The container writes
// what it sees to a bind-mounted /out; the host-side test judges the results.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveOptions, type CommonOptions } from '../../../src/config.js';
import { hookEntry, SHIM_HOOK_STAGES } from '../../../src/oci/shim.js';
import type { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { HOST_OUTER, TENANT } from '../../kernel/fidelity/scenarios.js';

const SFS = '/sys/kernel/security';
const ANNOTATIONS = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
/** What the container reports: its own label, and whether the tenant-denied, host-denied and public files read. */
const SCRIPT = [
  'cat /proc/self/attr/current > /out/label 2>&1',
  'for f in secret outer-secret public; do if cat /$f > /dev/null 2>&1; then echo readable; else echo denied; fi > /out/$f; done',
  // Long enough for the test to see the namespace and the label from the root namespace.
  'sleep 0.5',
].join('; ');

export interface ContainerResult {
  runtime: string;
  mode: string;
  status: number | null;
  output: string;
  label: string | null;
  secret: string | null;
  outerSecret: string | null;
  public: string | null;
  /** Seen from outside while the container ran: the namespaces, and labels of tasks inside tenant-a. */
  namespacesDuring: string[];
  labelsDuring: string[];
  namespacesAfter: string[];
  ms: number;
}

const namespaces = () => readdirSync(`${SFS}/apparmor/policy/namespaces`).sort();
const readOut = (b: string, f: string) => (existsSync(join(b, 'out', f)) ? readFileSync(join(b, 'out', f), 'utf8').trim() : null);

interface Env { dir: string; options: CommonOptions; env: NodeJS.ProcessEnv; lsmns: string }

function makeEnv(repo: string): Env {
  const dir = mkdtempSync('/tmp/lsmns-e2e-');
  const options = resolveOptions({ backend: 'securityfs', securityfs: SFS, stateDir: join(dir, 'state'), policyDir: join(dir, 'policies'), hostProfileDir: join(dir, 'host-profiles') }, {});
  mkdirSync(options.policyDir, { recursive: true });
  mkdirSync(options.hostProfileDir, { recursive: true });
  writeFileSync(join(options.policyDir, 'web.aa'), TENANT.text);
  writeFileSync(join(options.hostProfileDir, 'outer'), HOST_OUTER.text);
  const lsmns = `${repo}/bin/lsmns.cjs`;
  const env = { ...process.env, LSMNS_BACKEND: 'securityfs', LSMNS_SECURITYFS: SFS, LSMNS_STATE_DIR: options.stateDir, LSMNS_POLICY_DIR: options.policyDir, LSMNS_HOST_PROFILE_DIR: options.hostProfileDir, LSMNS_BIN: lsmns };
  return { dir, options, env, lsmns };
}

function bundle(e: Env, name: string, o: { annotations: Record<string, string>; hooks?: boolean; apparmorProfile?: string }): string {
  const b = join(e.dir, name);
  mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
  mkdirSync(join(b, 'out'));
  copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
  for (const t of ['sh', 'cat', 'sleep']) symlinkSync('busybox', join(b, 'rootfs', 'bin', t));
  for (const f of ['secret', 'outer-secret', 'public']) writeFileSync(join(b, 'rootfs', f), `${f}\n`);
  const spec = spawnSync('runc', ['spec'], { cwd: b, encoding: 'utf8' });
  if (spec.status !== 0) throw new Error(`runc spec: ${spec.stderr}`);
  const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  cfg.process.args = ['sh', '-c', SCRIPT];
  cfg.process.terminal = false;
  cfg.mounts.push({ destination: '/out', type: 'bind', source: join(b, 'out'), options: ['rbind', 'rw'] });
  cfg.annotations = o.annotations;
  if (o.apparmorProfile) cfg.process.apparmorProfile = o.apparmorProfile;
  if (o.hooks) cfg.hooks = Object.fromEntries(SHIM_HOOK_STAGES.map((s) => [s, [hookEntry(s, { options: e.options, hook: { mode: 'standalone', bin: e.lsmns } })]]));
  writeFileSync(join(b, 'config.json'), JSON.stringify(cfg, null, 2));
  return b;
}

/** Root-namespace labels of all tasks in tenant-a (what the container runs as, seen from outside). */
function tenantLabels(): string[] {
  const out = new Set<string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const l = readFileSync(`/proc/${d}/attr/current`, 'utf8').trim();
      if (l.includes(':tenant-a:')) out.add(l);
    } catch {
      // gone
    }
  }
  return [...out].sort();
}

/**
 * Runs to a file (a container init may inherit the descriptors, and a pipe would not survive its profile) and
 * watches the namespaces and the tenant's labels from outside while it runs.
 */
async function run(cmd: string, args: string[], e: Env, cwd: string): Promise<{ status: number | null; output: string; namespaces: string[]; labels: string[] }> {
  const file = join(e.dir, `run-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const fd = openSync(file, 'w');
  const seenNs = new Set<string>();
  const seenLabels = new Set<string>();
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd, env: e.env });
    const status = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
      const poll = setInterval(() => {
        for (const n of namespaces()) seenNs.add(n);
        for (const l of tenantLabels()) seenLabels.add(l);
      }, 25);
      child.on('exit', (code) => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(code);
      });
    });
    return { status, output: readFileSync(file, 'utf8').trim().slice(-2000), namespaces: [...seenNs].sort(), labels: [...seenLabels].sort() };
  } finally {
    closeSync(fd);
  }
}

/** One container, foreground (`run`): the runtime deletes it on exit, which runs poststop. */
async function container(e: Env, runtime: string, mode: 'hook' | 'runtime', name: string, o: { annotations: Record<string, string>; apparmorProfile?: string }): Promise<ContainerResult> {
  const b = bundle(e, name, { ...o, hooks: mode === 'hook' });
  const root = join(e.dir, `root-${runtime}`);
  const t0 = performance.now();
  const r = mode === 'hook'
    ? await run(runtime, ['--root', root, 'run', '--bundle', b, name], e, b)
    : await run(process.execPath, [e.lsmns, 'runtime', '--runtime', runtime, '--', '--root', root, 'run', '--bundle', b, name], e, b);
  return {
    runtime, mode, status: r.status, output: r.output, ms: Math.round(performance.now() - t0),
    label: readOut(b, 'label'), secret: readOut(b, 'secret'), outerSecret: readOut(b, 'outer-secret'), public: readOut(b, 'public'),
    namespacesDuring: r.namespaces, labelsDuring: r.labels, namespacesAfter: namespaces(),
  };
}

/**
 * No silent sim on an AppArmor host (node-install issue): the shim and a hook with no node configuration and no
 * LSMNS_BACKEND refuse the annotated container (exit 3) and securityfs is unchanged; then the node laid out by
 * `lsmns install --root DIR` (no --backend: it picks securityfs here) runs it confined through the installed
 * front, with no LSMNS_* variable in the environment.
 */
async function nodeInstallChecks(e: Env, repo: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LSMNS_'))) as NodeJS.ProcessEnv;
  const snap = () => ({ namespaces: namespaces(), profiles: readFileSync(`${SFS}/apparmor/profiles`, 'utf8') });
  const unset = { ...e, env: { ...bare, LSMNS_STATE_DIR: e.options.stateDir, LSMNS_POLICY_DIR: e.options.policyDir, LSMNS_BIN: e.lsmns } };
  const before = snap();
  const shim = await container(unset, 'runc', 'runtime', 'unconf-rt', { annotations: ANNOTATIONS });
  // A hook entry as install would write it, minus LSMNS_BACKEND.
  const b = bundle(e, 'unconf-hook', { annotations: ANNOTATIONS, hooks: true, apparmorProfile: '&:tenant-a:p' });
  const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as { hooks: Record<string, { env: string[] }[]> };
  for (const hs of Object.values(cfg.hooks)) for (const h of hs) h.env = h.env.filter((v) => !v.startsWith('LSMNS_BACKEND=') && !v.startsWith('LSMNS_SIM_STATE='));
  writeFileSync(join(b, 'config.json'), JSON.stringify(cfg, null, 2));
  const hook = await run('runc', ['--root', join(e.dir, 'root-unconf'), 'run', '--bundle', b, 'unconf-hook'], unset, b);
  const after = snap();
  out.unconfigured = { shimStatus: shim.status, shimOutput: shim.output, shimLabel: shim.label, hookStatus: hook.status, hookOutput: hook.output, hookLabel: readOut(b, 'label'), unchanged: JSON.stringify(before) === JSON.stringify(after), simCreated: existsSync('/var/lib/lsmns/sim-kernel.json') };

  const root = mkdtempSync('/tmp/lsmns-node-');
  const inst = spawnSync(process.execPath, [e.lsmns, 'install', '--root', root], { encoding: 'utf8', env: bare });
  mkdirSync(join(root, 'etc/lsmns/policies'), { recursive: true });
  writeFileSync(join(root, 'etc/lsmns/policies/web.aa'), TENANT.text);
  const installed = { ...e, env: bare };
  const nb = bundle(installed, 'installed-rt', { annotations: ANNOTATIONS });
  const r = await run(join(root, 'opt/lsmns/bin/lsmns-runtime'), ['--root', join(e.dir, 'root-installed'), 'run', '--bundle', nb, 'installed-rt'], installed, nb);
  out.installed = { installStatus: inst.status, installOutput: `${inst.stdout}${inst.stderr}`.slice(-1500), conf: readFileSync(join(root, 'etc/lsmns/node.conf'), 'utf8'), status: r.status, output: r.output, label: readOut(nb, 'label'), secret: readOut(nb, 'secret'), namespacesDuring: r.namespaces, labelsDuring: r.labels, namespacesAfter: namespaces() };
  return out;
}

/** Runs every container case for runc and crun; the host profile "outer" is loaded into the root namespace first. */
export async function containerChecks(k: SecurityfsKernel, repo: string): Promise<Record<string, unknown>> {
  const e = makeEnv(repo);
  await k.loadPolicy('', HOST_OUTER);
  const out: Record<string, unknown> = { namespacesBefore: namespaces() };
  for (const rt of ['runc', 'crun']) {
    out[`${rt}-hook`] = await container(e, rt, 'hook', `${rt}-hook`, { annotations: ANNOTATIONS, apparmorProfile: '&:tenant-a:p' });
    out[`${rt}-runtime`] = await container(e, rt, 'runtime', `${rt}-rt`, { annotations: ANNOTATIONS });
    out[`${rt}-host-stacked`] = await container(e, rt, 'runtime', `${rt}-host`, { annotations: { ...ANNOTATIONS, 'lsmns.io/host-profile': 'outer' } });
    const before = { namespaces: namespaces(), profiles: readFileSync(`${SFS}/apparmor/profiles`, 'utf8') };
    const hostile = await container(e, rt, 'hook', `${rt}-hostile`, { annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-profile': 'p//&:other:x' }, apparmorProfile: '&:tenant-a:p' });
    out[`${rt}-hostile`] = { ...hostile, profilesUnchanged: readFileSync(`${SFS}/apparmor/profiles`, 'utf8') === before.profiles, namespacesBefore: before.namespaces };
  }
  out['node-install'] = await nodeInstallChecks(e, repo);
  return out;
}
