// The securityfs backend of the kernel port: real mkdir/rmdir under <securityfs>/apparmor/policy, policy
// loads as one write of a compiled binary to .replace, /proc attr writes, and tasks started through the static
// helper. Errors carry the kernel's errno through kernelError, exactly as the sim's do.

import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, writeSync, constants } from 'node:fs';
import { LsmnsError } from '../../errors.js';
import type { NodeFacts } from '../facts.js';
import { nsPathOf } from '../label.js';
import { kernelError, type AttrName, type KernelPort, type PortDescription, type SpawnOptions, type SpawnedTask } from '../port.js';
import type { PolicySource } from '../../policy/store.js';
import { compiledPolicy, type CompiledPolicy } from './compile.js';
import { startTask } from './helper.js';
import { probeNode, type ProbeDetail } from './probe.js';

export const DEFAULT_SECURITYFS = '/sys/kernel/security';

export interface SecurityfsKernelOptions {
  securityfs: string;
  stateDir: string;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

export class SecurityfsKernel implements KernelPort {
  readonly where: string;
  readonly aa: string;
  private readonly stateDir: string;
  private detail: ProbeDetail | null = null;
  private readonly children = new Map<number, ChildProcess>();
  /** The last policy load: whether the compile cache served it (for logs, tests and benchmarks). */
  lastCompile: CompiledPolicy | null = null;

  constructor(o: SecurityfsKernelOptions) {
    this.where = o.securityfs.replace(/\/+$/, '') || '/';
    this.aa = `${this.where}/apparmor`;
    this.stateDir = o.stateDir;
  }

  /** <securityfs>/apparmor/policy for the root namespace, .../namespaces/a/namespaces/b for "a//b". */
  nsDir(ns: string, op: string): string {
    const parts = nsPathOf(ns);
    // Names are validated upstream; a "/" here would address another directory, so it never reaches the fs.
    for (const p of parts) if (p.length === 0 || p.includes('/') || p.includes('\0')) throw kernelError(op, `${this.aa}/policy/namespaces/${ns}`, 'EINVAL', 'not a namespace name');
    return parts.reduce((d, p) => `${d}/namespaces/${p}`, `${this.aa}/policy`);
  }

  describe(): PortDescription {
    const { syscalls } = this.probeDetail();
    return { backend: 'securityfs', where: this.where, notes: [`syscall probe: ${syscalls.note}`], detail: { syscalls } };
  }

  /** Compiles into the policy cache now, so that the container start only writes the cached binary. */
  async precompile(policy: PolicySource): Promise<void> {
    await compiledPolicy(policy, { stateDir: this.stateDir, aaDir: this.aa, defaultLocation: this.where === DEFAULT_SECURITYFS });
  }

  probeDetail(): ProbeDetail {
    this.detail ??= probeNode(this.where);
    return this.detail;
  }

  async probe(): Promise<NodeFacts> {
    return this.probeDetail().facts;
  }

  async bootId(): Promise<string> {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  }

  async listNamespaces(parent = ''): Promise<string[]> {
    try {
      return readdirSync(`${this.nsDir(parent, 'readdir')}/namespaces`).sort();
    } catch {
      return [];
    }
  }

  async namespaceExists(ns: string): Promise<boolean> {
    try {
      return statSync(this.nsDir(ns, 'stat')).isDirectory();
    } catch {
      return false;
    }
  }

  async namespaceIdentity(ns: string): Promise<string | null> {
    try {
      const st = statSync(this.nsDir(ns, 'stat'), { bigint: true });
      return st.isDirectory() ? `${st.dev}:${st.ino}:${st.ctimeNs}` : null;
    } catch {
      return null;
    }
  }

  async createNamespace(ns: string): Promise<void> {
    const dir = this.nsDir(ns, 'mkdir');
    try {
      mkdirSync(dir);
    } catch (e) {
      throw kernelError('mkdir', dir, errnoOf(e));
    }
  }

  async removeNamespace(ns: string): Promise<void> {
    const dir = this.nsDir(ns, 'rmdir');
    if (nsPathOf(ns).length === 0) throw kernelError('rmdir', dir, 'EBUSY', 'the root namespace cannot be removed');
    try {
      rmdirSync(dir);
    } catch (e) {
      throw kernelError('rmdir', dir, errnoOf(e));
    }
  }

  async loadPolicy(ns: string, policy: PolicySource): Promise<string[]> {
    const parsed = { profiles: policy.profiles ?? (await import('../../policy/lint.js')).lintPolicy(policy.text, policy.path, { as: 'host', includeDirs: [] }).profiles };
    const dir = this.nsDir(ns, 'write');
    const target = `${dir}/.replace`;
    const names = parsed.profiles.map((p) => p.name);
    // Same refusal as the sim: a blob with ":other:x" names would create and fill another namespace.
    if (names.some((n) => n.startsWith(':'))) throw kernelError('write', target, 'EACCES', 'namespaced profile names are refused by lsmns before load');
    if (!(await this.namespaceExists(ns))) throw kernelError('write', target, 'ENOENT');
    const compiled = await compiledPolicy(policy, { stateDir: this.stateDir, aaDir: this.aa, defaultLocation: this.where === DEFAULT_SECURITYFS });
    this.lastCompile = compiled;
    writeOnce(target, compiled.blob);
    const present = await this.listProfiles(ns);
    const missing = names.filter((n) => !present.includes(n));
    if (missing.length > 0) throw kernelError('write', target, 'EPROTO', `profiles ${missing.join(', ')} are not listed after the load`);
    return [...names].sort();
  }

  async listProfiles(ns: string): Promise<string[]> {
    let dir: string;
    try {
      dir = `${this.nsDir(ns, 'readdir')}/profiles`;
      // Directory names are mangled ("name.N"); each profile's own name file holds the real name.
      return readdirSync(dir).map((d) => readFileSync(`${dir}/${d}/name`, 'utf8').trim()).sort();
    } catch {
      return [];
    }
  }

  async profilesListing(): Promise<string[]> {
    return readFileSync(`${this.aa}/profiles`, 'utf8').split('\n').filter((l) => l.length > 0);
  }

  async readTaskLabel(pid: number): Promise<string> {
    const facts = await this.probe();
    const path = `/proc/${pid}/attr/${facts.attr.apparmorDir ? 'apparmor/' : ''}current`;
    try {
      return readFileSync(path, 'utf8').replace(/\0/g, '').trim();
    } catch (e) {
      throw kernelError('read', path, errnoOf(e));
    }
  }

  /**
   * A synchronous write from the main thread: AppArmor refuses a write from another thread of the process
   * (EACCES for libuv workers), so 'self' goes through /proc/thread-self, which is this thread.
   */
  async writeTaskAttr(pid: number | 'self', attr: AttrName, value: string): Promise<void> {
    writeOnce(`/proc/${pid === 'self' ? 'thread-self' : pid}/attr/${attr}`, Buffer.from(value));
  }

  async spawnTask(o: SpawnOptions): Promise<SpawnedTask> {
    const facts = await this.probe();
    const display = o.display && facts.attr.display ? { file: facts.attr.display, lsm: o.display } : undefined;
    const child = await startTask({ label: o.execLabel, via: o.via ?? (facts.attr.apparmorDir ? 'apparmor/exec' : 'exec'), display });
    const pid = child.pid!;
    this.children.set(pid, child);
    child.once('exit', () => this.children.delete(pid));
    child.unref();
    try {
      return { pid, label: await this.readTaskLabel(pid) };
    } catch (e) {
      await this.endTask(pid).catch(() => {});
      throw e;
    }
  }

  async endTask(pid: number): Promise<void> {
    const child = this.children.get(pid);
    const gone = child && child.exitCode === null && child.signalCode === null ? new Promise<void>((r) => child.once('exit', () => r())) : null;
    try {
      // AppArmor mediates signal receipt: a profile without a signal rule makes this EACCES, even for root.
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      throw kernelError('kill', `/proc/${pid}`, errnoOf(e) === 'ESRCH' ? 'ENOENT' : errnoOf(e));
    }
    // The child was unref'd so that a caller can exit while it runs; waiting for its exit needs a ref again.
    child?.ref();
    if (gone) await gone;
  }
}

/** One write(2) of the whole buffer: securityfs policy files and attr files take a value per write. */
export function writeOnce(path: string, data: Buffer): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (e) {
    throw kernelError('open', path, errnoOf(e));
  }
  try {
    const n = writeSync(fd, data, 0, data.length);
    if (n !== data.length) throw kernelError('write', path, 'EIO', `short write: ${n} of ${data.length} bytes`);
  } catch (e) {
    if (e instanceof LsmnsError) throw e;
    throw kernelError('write', path, errnoOf(e));
  } finally {
    closeSync(fd);
  }
}
