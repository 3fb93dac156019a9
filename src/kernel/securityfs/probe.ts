// Node facts read from a real kernel: securityfs, /proc, /sys/module and, for the LSM syscalls, the static
// helper (Node has no binding for syscalls 459-461). Reads only; nothing here changes the node.

import { accessSync, existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { FACTS_FORMAT_VERSION, kernelAtLeast, sharedAttrLsm, type DisplayInterface, type NodeFacts } from '../facts.js';
import { probeSyscalls, type SyscallProbe } from './helper.js';

/** CAP_MAC_ADMIN is capability 33 (include/uapi/linux/capability.h). */
const CAP_MAC_ADMIN = 33n;

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function hasCap(status: string | null, field: string, cap: bigint): boolean {
  const m = status ? new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status) : null;
  return m ? ((BigInt(`0x${m[1]}`) >> cap) & 1n) === 1n : false;
}

/** Policy admin (aa_may_manage_policy): root with CAP_MAC_ADMIN in the initial user namespace, policy not locked. */
function policyAdmin(aa: string): boolean {
  const initialUserns = /^\s*0\s+0\s+4294967295\s*$/m.test(readText('/proc/self/uid_map') ?? '');
  const locked = readText('/sys/module/apparmor/parameters/lock_policy') === 'Y';
  let writable = true;
  try {
    accessSync(`${aa}/policy/.replace`, 2);
  } catch {
    writable = false;
  }
  return process.geteuid?.() === 0 && hasCap(readText('/proc/self/status'), 'CapEff', CAP_MAC_ADMIN) && initialUserns && !locked && writable;
}

export interface ProbeDetail {
  facts: NodeFacts;
  /** What the syscall probe saw (or why it could not run); shown by lsmns probe. */
  syscalls: SyscallProbe;
}

export function probeNode(securityfs: string): ProbeDetail {
  const aa = `${securityfs}/apparmor`;
  const lsmText = readText(`${securityfs}/lsm`);
  const lsms = lsmText ? lsmText.split(',').filter((l) => l.length > 0) : [];
  const mounted = lsmText !== null || existsSync(aa);
  const enabled = lsms.includes('apparmor') && existsSync(aa) && readText('/sys/module/apparmor/parameters/enabled') === 'Y';
  const display: DisplayInterface | null = existsSync('/proc/self/attr/display') ? 'display' : existsSync('/proc/self/attr/interface_lsm') ? 'interface_lsm' : null;
  const sys = probeSyscalls();
  const rel = release();
  // Without the helper, fall back to the release (6.8 added the syscalls); the probe detail says so.
  const lsmSelfAttr = sys.ran ? sys.works : kernelAtLeast(rel, 6, 8);
  const facts: NodeFacts = {
    formatVersion: FACTS_FORMAT_VERSION,
    source: 'probe',
    kernel: { release: rel },
    lsms,
    securityfs: { mounted },
    apparmor: {
      enabled,
      policyNamespaces: enabled && existsSync(`${aa}/features/namespaces`) && existsSync(`${aa}/policy/namespaces`),
      stacking: enabled && readText(`${aa}/features/domain/stack`) === 'yes',
      domainVersion: enabled ? readText(`${aa}/features/domain/version`) : null,
      nsLevel: Number(readText(`${aa}/.ns_level`) ?? 0) || 0,
      nsName: readText(`${aa}/.ns_name`) ?? 'root',
      nsStacked: readText(`${aa}/.ns_stacked`) === 'yes',
      policyAdmin: enabled && policyAdmin(aa),
    },
    attr: { apparmorDir: existsSync('/proc/self/attr/apparmor'), display, sharedLsm: sharedAttrLsm(lsms) },
    syscalls: { lsmSelfAttr },
  };
  return { facts, syscalls: sys };
}
