// A private containerd with its CRI plugin, driven over its socket the way kubelet drives it (recipe:
// shared/lab/cri). Everything lives under a temporary directory; containerd and the shims it started
// are stopped by pid. `fakeAppArmor` runs containerd in a private mount namespace whose
// /sys/kernel/security/apparmor/profiles and /sys/module/apparmor/parameters/enabled look like an AppArmor
// host's, so containerd's own Localhost-profile check runs here although this kernel has no AppArmor.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { renderContainerdHandler } from '../../src/install/runtime-handler.js';
import { LSMNS, simEnv, withoutLsmns, type SimEnv } from '../runtimes/harness.js';

const HERE = fileURLToPath(new URL('../../../test/cri/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * What a node without lsmns or Node on its PATH still has: containerd, its shims, runc, sh and socat, and what
 * CNI's portmap plugin runs (iptables).
 */
const NODE_TOOLS = ['containerd', 'containerd-shim', 'containerd-shim-runc-v1', 'containerd-shim-runc-v2', 'runc', 'sh', 'socat', 'iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore'];

/** A directory of links to NODE_TOOLS only, for containerd's PATH. */
function nodeBin(dir: string): string {
  const bin = join(dir, 'node-bin');
  mkdirSync(bin, { recursive: true });
  for (const t of NODE_TOOLS) {
    const at = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    if (at) symlinkSync(at, join(bin, t));
  }
  return bin;
}

export function criAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['containerd', 'ctr', 'runc', 'unshare', 'jq']) if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed (scripts/deps.sh installs it)`;
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed';
  return null;
}

/** Builds the two test images once (pause and app, busybox-based) into .work/cri-images. */
export function buildImages(): { pause: string; app: string } {
  const dir = join(REPO, '.work', 'cri-images');
  mkdirSync(dir, { recursive: true });
  const pause = join(dir, 'pause.tar');
  const app = join(dir, 'app.tar');
  const mk = (name: string, out: string, ep: string) => {
    if (existsSync(out)) return;
    const r = spawnSync('bash', [join(HERE, 'mkimage.sh'), name, out, ep], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mkimage ${name}: ${r.stderr}`);
  };
  mk('lsmns.test/pause:1', pause, '["/bin/sh","-c","trap \\"exit 0\\" TERM; while :; do sleep 1; done"]');
  mk('lsmns.test/app:1', app, '["/bin/sh","-c"]');
  return { pause, app };
}

type Client = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata | object, cb: (e: grpc.ServiceError | null, r: any) => void) => void>;

export interface LabOptions {
  fakeAppArmor?: boolean;
  /** BinaryName of the lsmns handler (the shim front). */
  shimPath?: string;
  /** Extra environment for containerd, inherited by the shims and the runtime. */
  env?: Record<string, string>;
  /** The lsmns handler's TOML as `lsmns install --containerd` printed it (instead of rendering one for shimPath). */
  handler?: string;
  /** containerd's environment as a node's: no LSMNS_* variable, a PATH with no lsmns and no node. */
  nodeEnv?: boolean;
  /** Shell lines run as root in containerd's private mount namespace before it starts (bind mounts). */
  mountSetup?: string[];
  /** Directories put in front of a node's PATH (nodeEnv), e.g. one with an `lsmns` as an npm install has. */
  pathFirst?: string[];
  /**
   * A network and a mount namespace of containerd's own: pods' bridge, routes and host ports stay off the host's,
   * and / is rshared inside as on a systemd host (this host's / is private), for clients entered with `nsenter
   * -t PID -m -n` (see pid).
   */
  isolated?: boolean;
  /** containerd's sandbox_image (default: lsmns.test/pause:1, imported at start). */
  sandboxImage?: string;
  /** TOML appended to containerd's config (before the handler), e.g. registry mirrors. */
  extraConfig?: string;
  /** The CNI conflist for pods that are not hostNetwork, given the lab's directory; Debian's plugins run it. */
  cni?: (dir: string) => string;
}

export class CriLab {
  readonly dir: string;
  readonly sock: string;
  private proc: ChildProcess | null = null;
  private rt: Client | null = null;

  constructor(private readonly o: LabOptions = {}) {
    this.dir = mkdtempSync('/tmp/lsmns-cri-');
    this.sock = join(this.dir, 'containerd.sock');
  }

  async start(): Promise<void> {
    const B = this.dir;
    for (const d of ['cni/bin', 'cni/net.d', 'runc-root', 'opt', 'conf.d', 'pod-logs']) mkdirSync(join(B, d), { recursive: true });
    const capbnd = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
    const restrict = ((BigInt(`0x${capbnd}`) >> 24n) & 1n) === 0n; // no CAP_SYS_RESOURCE: see the lab notes
    writeFileSync(join(B, 'config.toml'), `version = 2
root = "${B}/root"
state = "${B}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${this.sock}"
[ttrpc]
  address = "${this.sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${B}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${this.o.sandboxImage ?? 'lsmns.test/pause:1'}"
  disable_tcp_service = true
  restrict_oom_score_adj = ${restrict}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "${this.o.cni ? '/usr/lib/cni' : `${B}/cni/bin`}"
  conf_dir = "${B}/cni/net.d"
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "native"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  Root = "${B}/runc-root"
${this.o.extraConfig ?? ''}
${this.o.handler ?? renderContainerdHandler(2, { shimPath: this.o.shimPath ?? join(REPO, 'hooks', 'lsmns-runtime') })}`);
    if (this.o.cni) writeFileSync(join(B, 'cni/net.d/10-lab.conflist'), this.o.cni(B));
    const base = this.o.nodeEnv ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LSMNS_'))) : process.env;
    const env = { ...base, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...(this.o.env ?? {}) };
    const log = join(B, 'containerd.log');
    // A node's containerd: its PATH has its own tools and nothing of lsmns or Node (set for containerd alone).
    const run = `${this.o.nodeEnv ? `PATH=${[...(this.o.pathFirst ?? []), nodeBin(B)].join(':')} ` : ''}exec containerd --config ${B}/config.toml >${log} 2>&1`;
    const fake = [
      'set -e',
      'mount -t tmpfs -o size=1m lsmns-fake-securityfs /sys/kernel/security',
      'mkdir -p /sys/kernel/security/apparmor',
      // the listing's format: "<name> (<mode>)" per loaded profile
      "printf 'cri-containerd.apparmor.d (enforce)\\nhost-web (enforce)\\n' >/sys/kernel/security/apparmor/profiles",
      'mount -t tmpfs -o size=1m lsmns-fake-module /sys/module',
      'mkdir -p /sys/module/apparmor/parameters',
      'echo Y >/sys/module/apparmor/parameters/enabled',
    ].join('; ');
    const setup = [...(this.o.isolated ? ['ip link set lo up', 'mount --make-rshared /'] : []), ...(this.o.fakeAppArmor ? [fake] : []), ...(this.o.mountSetup ?? [])];
    this.proc = setup.length > 0
      ? spawn('unshare', ['-m', ...(this.o.isolated ? ['-n'] : []), '--propagation', 'private', 'sh', '-c', `set -e; ${setup.join('; ')}; ${run}`], { env, stdio: 'ignore' })
      : spawn('sh', ['-c', run], { env, stdio: 'ignore' });
    for (let i = 0; i < 600; i++) {
      if (existsSync(this.sock) && spawnSync('ctr', ['--address', this.sock, 'plugins', 'ls'], { encoding: 'utf8' }).stdout.match(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/)) break;
      if (this.proc.exitCode !== null) throw new Error(`containerd died: ${readFileSync(log, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const imgs = buildImages();
    for (const t of [imgs.pause, imgs.app]) {
      const r = spawnSync('ctr', ['--address', this.sock, '-n', 'k8s.io', 'images', 'import', '--snapshotter', 'native', t], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ctr import ${t}: ${r.stderr}`);
    }
    const def = protoLoader.loadSync(join(HERE, 'cri-subset.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const v1 = (grpc.loadPackageDefinition(def) as any).runtime.v1;
    this.rt = new v1.RuntimeService(`unix://${this.sock}`, grpc.credentials.createInsecure()) as Client;
  }

  /** containerd's pid (unshare and sh exec it): `nsenter -t PID -m -n` runs a command in its namespaces (isolated). */
  get pid(): number { return this.proc!.pid!; }

  private readonly sandboxes = new Set<string>();

  async call<T = any>(method: string, req: unknown): Promise<T> {
    const r = await new Promise<T>((resolve, reject) => this.rt![method]!(req, { deadline: Date.now() + 60_000 }, (e, res) => (e ? reject(e) : resolve(res as T))));
    if (method === 'RunPodSandbox') this.sandboxes.add((r as { pod_sandbox_id: string }).pod_sandbox_id);
    if (method === 'RemovePodSandbox') this.sandboxes.delete((req as { pod_sandbox_id: string }).pod_sandbox_id);
    return r;
  }

  sandboxConfig(o: { name: string; uid: string; namespace?: string; annotations?: Record<string, string> }) {
    const logDir = join(this.dir, 'pod-logs', `${o.name}_${o.uid}`);
    mkdirSync(logDir, { recursive: true });
    return {
      metadata: { name: o.name, namespace: o.namespace ?? 'team-a', uid: o.uid, attempt: 0 },
      log_directory: logDir,
      annotations: o.annotations ?? {},
      linux: { cgroup_parent: '/lsmns-cri-test', security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    };
  }

  containerConfig(o: { cmd: string; apparmor?: { profile_type: string; localhost_ref?: string } }) {
    return {
      metadata: { name: 'app', attempt: 0 }, image: { image: 'lsmns.test/app:1' }, command: ['/bin/sh', '-c', o.cmd],
      log_path: 'app/0.log', linux: { security_context: o.apparmor ? { apparmor: o.apparmor } : {} },
    };
  }

  /** Stops and removes every sandbox the tests started, so no shim is left behind. */
  async cleanPods(): Promise<void> {
    for (const id of [...this.sandboxes]) {
      await this.call('StopPodSandbox', { pod_sandbox_id: id }).catch(() => {});
      await this.call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => {});
    }
  }

  async stop(): Promise<void> {
    this.rt?.close();
    const pid = this.proc?.pid;
    if (pid && this.proc!.exitCode === null) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && this.proc!.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      if (this.proc!.exitCode === null) process.kill(pid, 'SIGKILL');
    }
    // Shims started for this containerd only (matched by its socket), one by one by pid.
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        if (args[0]?.includes('containerd-shim') && args.includes(this.sock)) process.kill(Number(d), 'SIGTERM');
      } catch { /* gone */ }
    }
    spawnSync('rmdir', ['/sys/fs/cgroup/lsmns-cri-test']);
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** `lsmns ARGS` as a user runs it: no LSMNS_* variable in the environment. */
export function lsmnsCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [LSMNS, ...args], { encoding: 'utf8', env: withoutLsmns(process.env) });
}

/** `lsmns agent --config FILE`, as the systemd unit or the DaemonSet runs it; stopped by its pid. */
export async function startNodeAgent(args: string[], socket: string): Promise<{ proc: ChildProcess; log: () => string; stop: () => Promise<void> }> {
  let log = '';
  const proc = spawn(process.execPath, [LSMNS, 'agent', ...args], { env: withoutLsmns(process.env), stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.on('data', (c) => (log += c));
  for (let i = 0; i < 200 && !existsSync(socket) && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new Error(`the agent did not start: ${log}`);
  return { proc, log: () => log, stop: async () => { if (proc.exitCode === null) { const gone = new Promise((r) => proc.once('exit', r)); proc.kill('SIGTERM'); await gone; } } };
}

export interface InstalledNode {
  e: SimEnv;
  /** What `lsmns install --root DIR --containerd` printed: the handler to give containerd. */
  handler: string;
  agent: Awaited<ReturnType<typeof startNodeAgent>> | null;
  stop(): Promise<void>;
}

/**
 * A node exactly as a user installs it under a temp dir: `lsmns install --root DIR --backend sim [--served]`,
 * then `lsmns install --root DIR --containerd` for the handler, and (served) `lsmns agent --config
 * DIR/etc/lsmns/node.conf`. No LSMNS_* variable anywhere.
 */
export async function installedNode(prefix: string, mode: 'standalone' | 'served'): Promise<InstalledNode> {
  const e = await simEnv(prefix, { node: true });
  const inst = lsmnsCli(['install', '--root', e.dir, '--backend', 'sim', ...(mode === 'served' ? ['--served'] : [])]);
  assert.equal(inst.status, 0, inst.stderr);
  const h = lsmnsCli(['install', '--root', e.dir, '--containerd']);
  assert.equal(h.status, 0, h.stderr);
  const agent = mode === 'served' ? await startNodeAgent(['--config', join(e.dir, 'etc/lsmns/node.conf')], e.options.socket) : null;
  return { e, handler: h.stdout, agent, stop: async () => { await agent?.stop(); } };
}
