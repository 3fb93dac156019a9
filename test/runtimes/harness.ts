// Shared parts for tests with real runtimes: a busybox bundle, runc/crun command lines (crun needs the
// unified cgroup hierarchy unmounted in a private mount namespace on this host), and a sim environment whose
// LSMNS_* variables hooks and the shim pass along. Reused by the served-hooks tests.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveOptions, type CommonOptions } from '../../src/config.js';
import { DEFAULT_HOOKS_DIR, DEFAULT_UNIT_DIR } from '../../src/install/install.js';
import { nodeLayout } from '../../src/install/layout.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { simView } from '../../src/kernel/sim/view.js';
import { hookEntry, SHIM_HOOK_STAGES } from '../../src/oci/shim.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';
import { waitFor } from '../support/wait.js';

export { tempDir };

/** The lsmns CLI entry (CommonJS, dispatches hook and runtime to the bundles). */
export const LSMNS = fileURLToPath(new URL('../../../bin/lsmns.cjs', import.meta.url));
export const SHIM_FRONT = fileURLToPath(new URL('../../../hooks/lsmns-runtime', import.meta.url));
/** The thin client `lsmns install --served` points at by default: the static one `make build` compiles. */
export const HOOK_CLIENT = fileURLToPath(new URL('../../native/lsmns-hook-client', import.meta.url));
/** The portable sh + socat client, for hosts where nothing was compiled. */
export const SH_HOOK_CLIENT = fileURLToPath(new URL('../../../hooks/lsmns-hook-client', import.meta.url));

export const ANNOTATIONS = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

export interface BundleOptions {
  args?: string[];
  annotations?: Record<string, string>;
  hooks?: Record<string, unknown[]>;
  /** Directory name under dir (several bundles in one test). */
  name?: string;
}

/** A runnable busybox bundle (no user namespace, no network namespace) from `runc spec --rootless`. */
export function busyboxBundle(dir: string, o: BundleOptions = {}): string {
  const b = join(dir, o.name ?? 'bundle');
  mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
  for (const t of ['sh', 'sleep', 'true', 'cat']) symlinkSync('busybox', join(b, 'rootfs', 'bin', t));
  const spec = spawnSync('runc', ['spec', '--rootless'], { cwd: b, encoding: 'utf8' });
  assert.equal(spec.status, 0, spec.stderr);
  const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  cfg.process.args = o.args ?? ['sleep', '30'];
  cfg.process.terminal = false;
  cfg.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }];
  delete cfg.linux.uidMappings;
  delete cfg.linux.gidMappings;
  if (o.annotations) cfg.annotations = o.annotations;
  if (o.hooks) cfg.hooks = o.hooks;
  writeFileSync(join(b, 'config.json'), JSON.stringify(cfg, null, 2));
  return b;
}

export function editConfig(bundle: string, fn: (cfg: Record<string, any>) => void): void {
  const p = join(bundle, 'config.json');
  const cfg = JSON.parse(readFileSync(p, 'utf8'));
  fn(cfg);
  writeFileSync(p, JSON.stringify(cfg, null, 2));
}

export interface Runtime {
  name: 'runc' | 'crun';
  /** argv that runs the runtime (crun through unshare + umount). */
  argv0: string[];
}

export const RUNTIMES: Runtime[] = [
  { name: 'runc', argv0: ['runc'] },
  { name: 'crun', argv0: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'crun'] },
];

/** A one-file program that runs the runtime as `argv0` does: what --runtime PATH and LSMNS_RUNTIME take. */
export function runtimeWrapper(dir: string, rt: Runtime): string {
  const w = join(dir, `${rt.name}-wrapper`);
  writeFileSync(w, `#!/bin/sh\nexec ${rt.argv0.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')} "$@"\n`, { mode: 0o755 });
  return w;
}

export interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/**
 * Runs a command whose stdio may be inherited by a long-lived container init (create, run -d): output goes
 * to a file, never to a pipe the test would wait on.
 */
export function runToFile(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; dir: string }): Ran {
  const file = join(o.dir, `out-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const fd = openSync(file, 'w');
  let r: SpawnSyncReturns<Buffer>;
  try {
    r = spawnSync(cmd, args, { stdio: ['ignore', fd, fd], cwd: o.cwd, env: o.env, timeout: 60_000 });
  } finally {
    closeSync(fd);
  }
  return { status: r.status, signal: r.signal, out: readFileSync(file, 'utf8') };
}

/** An environment with no LSMNS_* variable: a node's components must find everything in node.conf. */
export function withoutLsmns(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((kv): kv is [string, string] => !kv[0].startsWith('LSMNS_') && kv[1] !== undefined));
}

export interface SimEnv {
  dir: string;
  options: CommonOptions;
  /** LSMNS_* for processes (hooks, the shim, podman's hooks.d JSON). */
  env: Record<string, string>;
  port: SimKernel;
  namespaces(): { name: string; profiles: string[] }[];
  tasks(): { pid: number; container: string | null; label: string }[];
  /** The sim file's bytes, for "changed nothing" checks. */
  bytes(): string;
  /** The hook entries lsmns adds, for this env. */
  hooks(): Record<string, unknown[]>;
}

/**
 * A fresh sim (booted, so its bytes can be compared), a policy store with policy "web" (profile p) and a state
 * dir. `node`: the paths are those `lsmns install --root DIR` writes, so that a node laid out by install and
 * this env agree without any LSMNS_* variable.
 */
export async function simEnv(prefix = 'lsmns-rt-', o: { node?: boolean } = {}): Promise<SimEnv> {
  const dir = tempDir(prefix);
  const options = o.node
    ? nodeLayout({ root: dir, options: { ...resolveOptions({}, {}), backend: 'sim' }, hooksDir: DEFAULT_HOOKS_DIR, unitDir: DEFAULT_UNIT_DIR }).options
    : resolveOptions({ simState: join(dir, 'sim.json'), stateDir: join(dir, 'state'), policyDir: join(dir, 'policies'), socket: join(dir, 'agent.sock') }, {});
  mkdirSync(join(options.policyDir, 'team-a'), { recursive: true });
  writeFileSync(join(options.policyDir, 'web.aa'), PROFILE_P);
  writeFileSync(join(options.policyDir, 'team-a', 'web.aa'), PROFILE_P);
  const port = new SimKernel({ path: options.simState });
  await port.bootId();
  const env = { LSMNS_BACKEND: 'sim', LSMNS_SIM_STATE: options.simState, LSMNS_STATE_DIR: options.stateDir, LSMNS_POLICY_DIR: options.policyDir, LSMNS_SOCKET: options.socket, LSMNS_BIN: LSMNS };
  const view = () => simView(port.store.read(), port.where);
  return {
    dir, options, env, port,
    namespaces: () => view().namespaces.filter((n) => n.name !== 'root').map((n) => ({ name: n.name, profiles: n.profiles.map((p) => p.name) })),
    tasks: () => view().tasks.filter((t) => t.pid !== 1).map((t) => ({ pid: t.pid, container: t.container, label: t.label })),
    bytes: () => readFileSync(options.simState, 'latin1'),
    hooks: () => Object.fromEntries(SHIM_HOOK_STAGES.map((s) => [s, [hookEntry(s, { options, hook: { mode: 'standalone', bin: LSMNS } })]])),
  };
}

/** The runtime's status of a container (created, running, stopped), or null when it has none. */
export function containerStatus(argv: readonly string[], root: string, id: string): string | null {
  const r = spawnSync(argv[0]!, [...argv.slice(1), '--root', root, 'state', id], { encoding: 'utf8' });
  return r.status === 0 ? (JSON.parse(r.stdout) as { status: string }).status : null;
}

/** kill -9, wait until stopped, then delete (which runs poststop), each through call; the delete's result. */
export async function killAndDelete(call: (args: string[]) => Ran, argv: readonly string[], root: string, id: string): Promise<Ran> {
  call(['kill', id, 'KILL']);
  await waitFor(() => containerStatus(argv, root, id) === 'stopped', `${id} stopped`, { intervalMs: 50 });
  return call(['delete', id]);
}

export interface Containerd {
  address: string;
  ctr(args: string[]): Ran;
  /** ctr task kill -9, wait until the task is stopped or gone, then delete the task and the container. */
  killAndDelete(id: string): Promise<Ran>;
  stop(): Promise<void>;
}

/** A private containerd (no CRI plugin) with its root, state and socket under dir; stopped by its pid. */
export async function startContainerd(dir: string): Promise<Containerd> {
  const base = join(dir, 'containerd');
  mkdirSync(base, { recursive: true });
  const address = join(base, 'containerd.sock');
  writeFileSync(join(base, 'config.toml'), [
    'version = 2', `root = "${base}/root"`, `state = "${base}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]', `  address = "${address}"`, '[ttrpc]', `  address = "${address}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]', `  path = "${base}/opt"`, '',
  ].join('\n'));
  const logFd = openSync(join(base, 'containerd.log'), 'w');
  const child = spawn('containerd', ['--config', join(base, 'config.toml')], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const ctr = (args: string[]) => runToFile('ctr', ['--address', address, ...args], { dir });
  await waitFor(() => child.exitCode === null && ctr(['version']).status === 0, 'containerd to answer', { timeoutMs: 30_000, intervalMs: 50 });
  return {
    address, ctr,
    killAndDelete: async (id) => {
      ctr(['task', 'kill', '-s', 'KILL', id]);
      // ctr task ls: "ID PID STATUS"; a task that is gone counts as stopped.
      await waitFor(() => /STOPPED/.test(ctr(['task', 'ls']).out.split('\n').find((l) => l.startsWith(`${id} `)) ?? 'STOPPED'), `${id} stopped`, { intervalMs: 50 });
      ctr(['task', 'delete', id]);
      return ctr(['container', 'delete', id]);
    },
    stop: () => new Promise((res) => {
      if (child.exitCode !== null) return res();
      child.once('exit', () => res());
      child.kill('SIGTERM');
    }),
  };
}

/** What a shim test runs against: its sim env, the runtime's --root, and the runtime program (runtimeWrapper). */
export interface ShimTarget {
  e: SimEnv;
  root: string;
  wrapper: string;
}

/**
 * The runners of a test that drives a real runtime through `lsmns runtime`: shim (the Node shim, extra env on
 * top of the sim's), direct (the runtime itself), status, and stop (kill, wait, delete through the shim). The
 * target is read at each call: tests set it up in before/beforeEach.
 */
export function shimRunner(at: () => ShimTarget) {
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, ...at().e.env, ...extra });
  const shim = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const { e, root, wrapper } = at();
    return runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, ...args], { dir: e.dir, env: env(extra), cwd: e.dir });
  };
  return {
    env, shim,
    direct: (args: string[]) => spawnSync(at().wrapper, ['--root', at().root, ...args], { encoding: 'utf8' }),
    status: (id: string) => containerStatus([at().wrapper], at().root, id),
    stop: (id: string) => killAndDelete(shim, [at().wrapper], at().root, id),
  };
}

/** A runtime program (for ctr --runc-binary, podman --runtime) that runs the lsmns shim front over runc in env e. */
export function shimWrapper(e: SimEnv): string {
  const wrapper = join(e.dir, 'lsmns-runc');
  const env = Object.entries(e.env).map(([k, v]) => `${k}='${v}'`).join(' ');
  writeFileSync(wrapper, `#!/bin/sh\nexport ${env} LSMNS_RUNTIME=runc PATH='${process.env.PATH}'\nexec '${SHIM_FRONT}' "$@"\n`, { mode: 0o755 });
  return wrapper;
}
