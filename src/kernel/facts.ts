// Node facts: what the planner needs to know about a node, whether probed, simulated or read from a file.
// Also the pure rules that turn an lsm= list and a kernel release into those facts (KERNEL-FACTS B4, B5).

import { invalidInput } from '../errors.js';
import { FORMAT_VERSION, type FormatVersion } from '../format.js';
import { escapeValue } from '../schema/names.js';

export const FACTS_FORMAT_VERSION = FORMAT_VERSION;
/** MAX_NS_DEPTH in security/apparmor/include/policy_ns.h (SPEC §1: the depth limit is 32). */
export const MAX_NS_DEPTH = 32;

/** LSM names the kernel knows, with their LSM ids (B5); integrity is accepted in lsm= but never listed. */
export const LSM_IDS: Record<string, number> = {
  capability: 100, selinux: 101, smack: 102, tomoyo: 103, apparmor: 104, yama: 105, loadpin: 106,
  safesetid: 107, lockdown: 108, bpf: 109, landlock: 110, ima: 111, evm: 112, ipe: 113,
};
const ACCEPTED = new Set([...Object.keys(LSM_IDS), 'integrity']);
/**
 * Mutually exclusive majors: the first enabled wins. TOMOYO is a legacy major but has stacked since 5.1:
 * Debian boots lsm=selinux,apparmor,tomoyo as lockdown,capability,selinux,tomoyo (KERNEL-FACTS Part A).
 */
export const EXCLUSIVE_LSMS: readonly string[] = ['selinux', 'smack', 'apparmor'];
/** LSMs that implement the shared /proc/<pid>/attr/{current,exec} files, in the order they would claim them. */
const PROCATTR_LSMS = new Set(['selinux', 'smack', 'apparmor']);

export type DisplayInterface = 'display' | 'interface_lsm';

export interface NodeFacts {
  formatVersion: FormatVersion;
  source: 'simulated' | 'probe' | 'file';
  kernel: { release: string };
  /** Active LSMs in the order of <securityfs>/lsm. */
  lsms: string[];
  securityfs: { mounted: boolean };
  apparmor: {
    enabled: boolean;
    policyNamespaces: boolean;
    stacking: boolean;
    domainVersion: string | null;
    nsLevel: number;
    nsName: string;
    nsStacked: boolean;
    policyAdmin: boolean;
  };
  attr: {
    /** /proc/<pid>/attr/apparmor/ (5.8+). */
    apparmorDir: boolean;
    /** The out-of-tree display interface (Ubuntu kernels), or null on mainline. */
    display: DisplayInterface | null;
    /** The LSM that the shared /proc/<pid>/attr/{current,exec} files reach, if any. */
    sharedLsm: string | null;
  };
  /** lsm_get_self_attr / lsm_set_self_attr / lsm_list_modules (6.8+). */
  syscalls: { lsmSelfAttr: boolean };
}

/** [major, minor, patch] of a kernel release such as "6.1.0-56-amd64"; null when it does not parse. */
export function parseKernelRelease(release: string): [number, number, number] | null {
  const m = /^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?/.exec(release);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const v = parseKernelRelease(release);
  if (!v) return false;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

export interface LsmListResult {
  active: string[];
  dropped: { lsm: string; reason: string }[];
}

/**
 * Applies the boot rules to an lsm= style list: unknown names are refused, duplicates dropped,
 * capability is always active (first, unless lockdown precedes it as an early LSM), and only the
 * first exclusive major stays. With the out-of-tree stacking series (display interface) majors stack.
 */
export function resolveLsmList(list: string, opts: { majorsStack?: boolean; flag?: string } = {}): LsmListResult {
  const flag = opts.flag ?? '--lsm';
  const names = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = names.filter((n) => !ACCEPTED.has(n));
  if (names.length === 0 || unknown.length > 0) {
    throw invalidInput(
      'InvalidLsmList',
      unknown.length > 0
        ? `${flag} ${escapeValue(list)}: unknown LSM ${unknown.map((u) => escapeValue(u)).join(', ')}`
        : `${flag} ${escapeValue(list)}: the list is empty`,
      `give a comma-separated list in the format of /sys/kernel/security/lsm, using ${Object.keys(LSM_IDS).join(', ')}; for example lockdown,capability,landlock,yama,apparmor,bpf`,
      [],
      { flag },
    );
  }
  const active: string[] = [];
  const dropped: LsmListResult['dropped'] = [];
  let major: string | null = null;
  for (const n of names) {
    if (n === 'integrity') continue;
    if (active.includes(n)) {
      dropped.push({ lsm: n, reason: 'listed twice' });
      continue;
    }
    if (EXCLUSIVE_LSMS.includes(n) && !opts.majorsStack) {
      if (major) {
        dropped.push({ lsm: n, reason: `${major} is already the exclusive major LSM; ${EXCLUSIVE_LSMS.join(', ')} are mutually exclusive` });
        continue;
      }
      major = n;
    }
    active.push(n);
  }
  if (!active.includes('capability')) active.splice(active[0] === 'lockdown' ? 1 : 0, 0, 'capability');
  return { active, dropped };
}

export function sharedAttrLsm(lsms: readonly string[]): string | null {
  return lsms.find((l) => PROCATTR_LSMS.has(l)) ?? null;
}

export interface SimulatedFactsInput {
  lsm: string;
  kernel: string;
  display?: DisplayInterface | null;
  policyAdmin?: boolean;
  nsLevel?: number;
}

export const DEFAULT_SIM_LSM = 'lockdown,capability,landlock,yama,apparmor,bpf';
export const DEFAULT_SIM_KERNEL = '6.1.0-sim';

/** What AppArmor offers on a kernel release: stacking and policy namespaces through securityfs mkdir arrived
 *  with AppArmor 3 (4.11+, domain/version 1.2). Shared by simulated facts and the sim's own probe. */
export function apparmorFeatures(aa: boolean, kernel: string): Pick<NodeFacts['apparmor'], 'enabled' | 'policyNamespaces' | 'stacking' | 'domainVersion'> {
  const modern = kernelAtLeast(kernel, 4, 11);
  return { enabled: aa, policyNamespaces: aa && modern, stacking: aa && modern, domainVersion: aa ? (modern ? '1.2' : '1.1') : null };
}

/** Facts of a simulated node, derived from an lsm= list and a kernel release the way the kernel would boot. */
export function simulatedFacts(input: SimulatedFactsInput): NodeFacts {
  if (!parseKernelRelease(input.kernel)) {
    throw invalidInput('InvalidKernelRelease', `--kernel ${escapeValue(input.kernel)}: not a kernel release`, 'give a release such as 6.1.0-56-amd64 or 6.12.0', [], { flag: '--kernel' });
  }
  const display = input.display ?? null;
  const { active } = resolveLsmList(input.lsm, { majorsStack: display !== null });
  const aa = active.includes('apparmor');
  return {
    formatVersion: FACTS_FORMAT_VERSION,
    source: 'simulated',
    kernel: { release: input.kernel },
    lsms: active,
    securityfs: { mounted: true },
    apparmor: {
      ...apparmorFeatures(aa, input.kernel),
      nsLevel: input.nsLevel ?? 0,
      nsName: 'root',
      nsStacked: false,
      policyAdmin: input.policyAdmin ?? true,
    },
    attr: {
      apparmorDir: aa && kernelAtLeast(input.kernel, 5, 8),
      display,
      sharedLsm: sharedAttrLsm(active),
    },
    syscalls: { lsmSelfAttr: kernelAtLeast(input.kernel, 6, 8) },
  };
}
