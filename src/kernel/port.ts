// The one kernel port. The sim and securityfs backends implement it; nothing above this file knows which
// one it talks to. Names are namespace hnames relative to lsmns's own view ("ns" or "ns//child").

import { ExitCode, LsmnsError, type ErrorCode } from '../errors.js';
import type { PolicySource } from '../policy/store.js';
import type { NodeFacts } from './facts.js';

export type BackendName = 'sim' | 'securityfs';

/** attr files a task can write: the shared ones, AppArmor's own directory (5.8+), and the display LSM. */
export type AttrName = 'exec' | 'current' | 'apparmor/exec' | 'apparmor/current' | 'display' | 'interface_lsm';

export interface SpawnedTask {
  pid: number;
  /** The label as the root namespace reads it, e.g. "unconfined//&:ns:p (enforce)". */
  label: string;
}

export interface SpawnOptions {
  /** A name for the task (the container's name, or "runc:[2:INIT]"). */
  comm: string;
  /** The label the task writes to its own attr/exec before it execs, as a runtime's init does. */
  execLabel?: string;
  /** Which interface the task writes the label through. */
  via?: 'apparmor/exec' | 'exec' | 'syscall';
  /** Display LSM the task sets on itself first (only where the kernel has the interface). */
  display?: string;
  /** What the task is for: a container id, recorded so that it can be found and ended later. */
  container?: string;
}

/** What a port says of itself, for messages, records and `lsmns probe`: data, never a branch above the port. */
export interface PortDescription {
  backend: BackendName;
  /** Where the kernel interfaces live ("/sys/kernel/security" or "sim:/var/lib/lsmns/sim-kernel.json"). */
  where: string;
  /** Lines the probe adds to its report (the LSM syscall probe of the real kernel). */
  notes: string[];
  /** Extra probe detail for the JSON report. */
  detail: Record<string, unknown>;
}

export interface KernelPort {
  describe(): PortDescription;
  /** Where the kernel interfaces live, for messages ("/sys/kernel/security" or "sim:/var/lib/lsmns/sim-kernel.json"). */
  readonly where: string;
  /** Prepares a policy ahead of a container start (the real kernel compiles it into its cache); may do nothing. */
  precompile(policy: PolicySource): Promise<void>;
  /** Node facts, probed once. */
  probe(): Promise<NodeFacts>;
  /** Changes at every boot; ownership records are kept per boot, since namespaces do not survive one. */
  bootId(): Promise<string>;
  listNamespaces(parent?: string): Promise<string[]>;
  namespaceExists(ns: string): Promise<boolean>;
  /**
   * What tells this namespace apart from another of the same name made later (the sim's id, securityfs's inode
   * and ctime), or null when there is none: a marker records it after the mkdir, and lsmns reuses or removes a
   * namespace only while it is still the same one (issue 16).
   */
  namespaceIdentity(ns: string): Promise<string | null>;
  /** mkdir policy/namespaces/NS: EEXIST, ENOENT (no parent), ENOSPC (depth), EACCES (not policy admin). */
  createNamespace(ns: string): Promise<void>;
  /** rmdir: recursive in the kernel, even with tasks inside; ENOENT when missing. */
  removeNamespace(ns: string): Promise<void>;
  /** Loads a (linted) policy into NS with replace semantics; returns the profile names it defines. */
  loadPolicy(ns: string, policy: PolicySource): Promise<string[]>;
  /** Profile names in NS (policy/namespaces/NS/profiles), sorted. */
  listProfiles(ns: string): Promise<string[]>;
  /** The lines of the `profiles` file as lsmns's own view reads them. */
  profilesListing(): Promise<string[]>;
  /** /proc/<pid>/attr/apparmor/current as lsmns reads it (root view), trimmed. */
  readTaskLabel(pid: number): Promise<string>;
  /** A write to a task's attr file; only a task may write its own (EPERM otherwise, even for root). */
  writeTaskAttr(pid: number | 'self', attr: AttrName, value: string): Promise<void>;
  /** Starts a task that applies a label to itself and execs, as a runtime init does. */
  spawnTask(o: SpawnOptions): Promise<SpawnedTask>;
  /** Ends a task started by spawnTask. */
  endTask(pid: number): Promise<void>;
}

const ERRNO_TEXT: Record<string, string> = {
  EEXIST: 'File exists', ENOENT: 'No such file or directory', ENOSPC: 'No space left on device', EACCES: 'Permission denied',
  EPERM: 'Operation not permitted', EINVAL: 'Invalid argument', ENOSYS: 'Function not implemented', EOVERFLOW: 'Value too large for defined data type',
  ENAMETOOLONG: 'File name too long', EPROTO: 'Protocol error', EBUSY: 'Device or resource busy', ENOMEM: 'Cannot allocate memory', ESPIPE: 'Illegal seek',
  ENOTDIR: 'Not a directory', EIO: 'Input/output error', EOPNOTSUPP: 'Operation not supported',
};

const CODE_BY_ERRNO: Record<string, ErrorCode> = {
  EEXIST: 'KernelExists', ENOENT: 'KernelNotFound', ENOSPC: 'KernelDepthOrSpace', EACCES: 'KernelPermissionDenied', EPERM: 'KernelPermissionDenied',
  EINVAL: 'KernelInvalidArgument', ENOSYS: 'KernelUnsupported', EOPNOTSUPP: 'KernelUnsupported', EOVERFLOW: 'KernelOverflow',
};

const REMEDY_BY_ERRNO: Record<string, string> = {
  EEXIST: 'it already exists; lsmns reuses only what it created for the same pod (see lsmns gc)',
  ENOENT: 'the namespace, profile or file is missing; check the namespace and the policy (lsmns sim show, or ls /sys/kernel/security/apparmor/policy/namespaces)',
  ENOSPC: 'AppArmor namespaces nest at most 32 deep; create it closer to the root namespace',
  EACCES: 'run as root with CAP_MAC_ADMIN in the initial user namespace, outside any confining profile, and check that policy is not locked',
  EPERM: 'only a task can write its own attr files; the runtime applies the label from process.apparmorProfile inside its init',
  EINVAL: 'the value was malformed or reached an LSM other than AppArmor; check the label and the node\'s attr interfaces (lsmns probe)',
  ENOSYS: 'this kernel lacks the interface; lsmns probe shows what the node offers',
};

/** The kernel refused an operation: the error names the interface, the errno and what to do. */
export function kernelError(op: string, target: string, errno: string, extra?: string): LsmnsError {
  return new LsmnsError({
    code: CODE_BY_ERRNO[errno] ?? 'KernelRefused',
    exitCode: ExitCode.ApplyFailed,
    errno,
    message: `${op} ${target}: ${errno} (${ERRNO_TEXT[errno] ?? 'error'})${extra ? `: ${extra}` : ''}`,
    remedy: REMEDY_BY_ERRNO[errno] ?? 'see the kernel log (dmesg) for AppArmor messages',
    details: { op, target },
  });
}
