// The sim backend of the kernel port: every call is one locked transaction on the shared state file,
// made as task `selfPid` (pid 1, root with every capability, unless a test says otherwise).

import { existsSync } from 'node:fs';
import { apparmorFeatures, FACTS_FORMAT_VERSION, sharedAttrLsm, type NodeFacts } from '../facts.js';
import { nsHname, nsPathOf, viewOf, type NsPath } from '../label.js';
import type { AttrName, KernelPort, PortDescription, SpawnOptions, SpawnedTask } from '../port.js';
import type { PolicySource } from '../../policy/store.js';
import { aaActive, exec, exitTask, findNs, hasApparmorDir, hasLsmSyscalls, listChildren, loadPolicyInto, lsmSetSelfAttr, mkdirNs, profilesListing, readLabel, rmdirNs, spawn, task, writeAttr, type SimState } from './model.js';
import { SimStore, type SimStoreOptions } from './store.js';

export interface SimKernelOptions extends SimStoreOptions {
  /** The sim task this port acts as. */
  selfPid?: number;
}

export class SimKernel implements KernelPort {
  readonly store: SimStore;
  readonly selfPid: number;
  private facts: NodeFacts | null = null;

  constructor(o: SimKernelOptions) {
    this.store = new SimStore(o);
    this.selfPid = o.selfPid ?? 1;
  }

  get where(): string {
    return `sim:${this.store.path}`;
  }

  describe(): PortDescription {
    return { backend: 'sim', where: this.where, notes: [], detail: {} };
  }

  async precompile(): Promise<void> {
    // The sim reads the policy text at load time; there is nothing to prepare.
  }

  private view(s: SimState): NsPath {
    return viewOf(task(s, this.selfPid).label);
  }

  private abs(s: SimState, ns: string): string {
    return nsHname([...this.view(s), ...nsPathOf(ns)]);
  }

  async probe(): Promise<NodeFacts> {
    if (this.facts) return this.facts;
    const s = this.store.read();
    const self = task(s, this.selfPid);
    const aa = aaActive(s);
    const adminOk = aa && !s.apparmor.lockPolicy && self.caps.includes('mac_admin') && self.usernsLevel === 0;
    this.facts = {
      formatVersion: FACTS_FORMAT_VERSION,
      source: 'probe',
      kernel: { release: s.boot.kernel },
      lsms: [...s.lsms],
      securityfs: { mounted: true },
      apparmor: {
        ...apparmorFeatures(aa, s.boot.kernel),
        nsLevel: this.view(s).length,
        nsName: this.view(s).length === 0 ? 'root' : nsHname(this.view(s)),
        nsStacked: self.label.length > 1,
        policyAdmin: adminOk,
      },
      attr: { apparmorDir: hasApparmorDir(s), display: s.boot.display, sharedLsm: sharedAttrLsm(s.lsms) },
      syscalls: { lsmSelfAttr: hasLsmSyscalls(s) },
    };
    return this.facts;
  }

  async bootId(): Promise<string> {
    // Materialise the state so that the boot id recorded in ownership markers is the one that persists; a state
    // that exists already is only read (it is replaced by rename, never removed), which spares a lock per hook.
    if (existsSync(this.store.path)) return this.store.read().bootId;
    return this.store.mutate((s) => s.bootId);
  }

  async listNamespaces(parent = ''): Promise<string[]> {
    const s = this.store.read();
    return listChildren(s, this.abs(s, parent)) ?? [];
  }

  async namespaceExists(ns: string): Promise<boolean> {
    const s = this.store.read();
    return findNs(s, nsPathOf(this.abs(s, ns))) !== null;
  }

  async namespaceIdentity(ns: string): Promise<string | null> {
    const s = this.store.read();
    return findNs(s, nsPathOf(this.abs(s, ns)))?.id ?? null;
  }

  async createNamespace(ns: string): Promise<void> {
    await this.store.mutate((s) => { mkdirNs(s, this.selfPid, this.abs(s, ns)); });
  }

  async removeNamespace(ns: string): Promise<void> {
    await this.store.mutate((s) => rmdirNs(s, this.selfPid, this.abs(s, ns)));
  }

  async loadPolicy(ns: string, policy: PolicySource): Promise<string[]> {
    // The executor hands the profiles it linted; otherwise the text is read here as the kernel would (the parser
    // loads only then, never on an unannotated container's path).
    const parsed = { profiles: policy.profiles ?? (await import('../../policy/lint.js')).lintPolicy(policy.text, policy.path, { as: 'host', includeDirs: [] }).profiles };
    return this.store.mutate((s) => loadPolicyInto(s, this.selfPid, this.abs(s, ns), parsed, policy.digest, 'replace'));
  }

  async listProfiles(ns: string): Promise<string[]> {
    const s = this.store.read();
    const n = findNs(s, nsPathOf(this.abs(s, ns)));
    return n ? Object.keys(n.profiles).sort() : [];
  }

  async profilesListing(): Promise<string[]> {
    const s = this.store.read();
    return profilesListing(s, this.view(s));
  }

  async readTaskLabel(pid: number): Promise<string> {
    return readLabel(this.store.read(), this.selfPid, pid);
  }

  async writeTaskAttr(pid: number | 'self', attr: AttrName, value: string): Promise<void> {
    await this.store.mutate((s) => writeAttr(s, this.selfPid, pid === 'self' ? this.selfPid : pid, attr, value));
  }

  async spawnTask(o: SpawnOptions): Promise<SpawnedTask> {
    return this.store.mutate((s) => {
      // What a runtime's init does: fork, set the display LSM and the exec label on itself, then exec.
      const child = spawn(s, this.selfPid, 'runc:[2:INIT]', o.container ?? null);
      if (o.display && s.boot.display) writeAttr(s, child.pid, child.pid, s.boot.display, o.display);
      if (o.execLabel) {
        const via = o.via ?? (hasApparmorDir(s) ? 'apparmor/exec' : 'exec');
        if (via === 'syscall') lsmSetSelfAttr(s, child.pid, 'exec', `exec ${o.execLabel}`);
        else writeAttr(s, child.pid, child.pid, via, `exec ${o.execLabel}`);
      }
      exec(s, child.pid, o.comm);
      return { pid: child.pid, label: readLabel(s, this.selfPid, child.pid) };
    });
  }

  /**
   * The sim task that runs a container (spawnTask's `container`), or null: on the sim, a container's label is
   * that task's, not its real init's (which runs unconfined on a host without AppArmor).
   */
  async containerTask(containerId: string): Promise<number | null> {
    const t = Object.values(this.store.read().tasks).find((x) => x.container === containerId);
    return t ? t.pid : null;
  }

  async endTask(pid: number): Promise<void> {
    await this.store.mutate((s) => exitTask(s, pid));
  }
}
