// The simulated kernel's state and its operations, as plain data mutated inside one locked transaction.
// Each operation follows a documented kernel behaviour (KERNEL-FACTS Part A first, Part B where A is
// silent) and fails with the kernel's errno. The fidelity suite checks this model against a real kernel.

import { FORMAT_VERSION, type FormatVersion } from '../../format.js';
import { kernelError } from '../port.js';
import { type DisplayInterface, kernelAtLeast, resolveLsmList, sharedAttrLsm } from '../facts.js';
import { isUnconfined, nsHname, nsPathOf, parseLabel, renderLabel, sortComponents, viewOf, type NsPath, type ResolvedComponent } from '../label.js';
import type { LintedPolicy } from '../../policy/lint.js';

export const SIM_FORMAT_VERSION = FORMAT_VERSION;
export const U64_MAX = (1n << 64n) - 1n;
export const PAGE_SIZE = 4096;
const VFS_NAME_MAX = 255;

export interface SimProfile {
  mode: string;
  /** The profile may change_profile (needed to leave a confined label, stacking included). */
  changeProfile: boolean;
  /** The profile grants capability mac_admin (needed by a confined policy admin). */
  macAdmin: boolean;
  digest: string;
  rules: string[];
  /** Load order within the namespace; the kernel lists newest first. */
  seq: number;
}

export interface SimNs {
  id: string;
  name: string;
  level: number;
  seq: number;
  profiles: Record<string, SimProfile>;
  children: Record<string, SimNs>;
}

export interface SimTask {
  pid: number;
  ppid: number;
  comm: string;
  label: ResolvedComponent[];
  onexec: ResolvedComponent[] | null;
  onexecStack: boolean;
  display: string | null;
  nnp: boolean;
  caps: string[];
  uid: number;
  usernsLevel: number;
  container: string | null;
}

export interface SimFault {
  /** Operation to fail in its transition phase: nsCreate, nsRemove, policyLoad, unshare. */
  op: string;
  /** Restrict to one target (namespace hname); absent means any. */
  target?: string;
  errno: string;
  /** How many more times it fires; absent means always. */
  remaining?: number;
}

export interface SimDenial {
  lsm: string;
  op: string;
  errno: string;
}

export interface SimState {
  formatVersion: FormatVersion;
  bootId: string;
  boot: { lsm: string; kernel: string; display: DisplayInterface | null };
  lsms: string[];
  apparmor: { lockPolicy: boolean; maxNsDepth: number | null; unprivilegedUsernsPolicy: boolean };
  nextNsId: string;
  nextSeq: number;
  root: SimNs;
  tasks: Record<string, SimTask>;
  nextPid: number;
  /** Permission-phase denials: any active LSM may refuse an operation. */
  denials: SimDenial[];
  /** Transition-phase failures, for tests of unwinding. */
  faults: SimFault[];
  revision: number;
}

export const ALL_CAPS = ['chown', 'dac_override', 'fowner', 'kill', 'setgid', 'setuid', 'net_admin', 'sys_admin', 'sys_ptrace', 'mac_admin', 'mac_override', 'sys_resource'];

export interface BootParams {
  lsm: string;
  kernel: string;
  display?: DisplayInterface | null;
}

/** A fresh boot: root namespace, init (pid 1) unconfined with every capability. */
export function bootSim(p: BootParams, bootId: string = globalThis.crypto.randomUUID()): SimState {
  const display = p.display ?? null;
  const { active } = resolveLsmList(p.lsm, { majorsStack: display !== null });
  const unconfined: ResolvedComponent[] = [{ ns: [], profile: 'unconfined', mode: 'unconfined' }];
  return {
    formatVersion: SIM_FORMAT_VERSION,
    bootId,
    boot: { lsm: p.lsm, kernel: p.kernel, display },
    lsms: active,
    apparmor: { lockPolicy: false, maxNsDepth: 32, unprivilegedUsernsPolicy: false },
    nextNsId: '1',
    nextSeq: 1,
    root: { id: '0', name: 'root', level: 0, seq: 0, profiles: {}, children: {} },
    tasks: {
      '1': { pid: 1, ppid: 0, comm: 'init', label: unconfined, onexec: null, onexecStack: false, display: null, nnp: false, caps: [...ALL_CAPS], uid: 0, usernsLevel: 0, container: null },
    },
    nextPid: 100,
    denials: [],
    faults: [],
    revision: 0,
  };
}

export function aaActive(s: SimState): boolean {
  return s.lsms.includes('apparmor');
}

export function hasApparmorDir(s: SimState): boolean {
  return aaActive(s) && kernelAtLeast(s.boot.kernel, 5, 8);
}

export function hasLsmSyscalls(s: SimState): boolean {
  return kernelAtLeast(s.boot.kernel, 6, 8);
}

function fsPath(hname: string): string {
  return `apparmor/policy/namespaces/${nsPathOf(hname).join('/namespaces/')}`;
}

export function task(s: SimState, pid: number, op = 'open', target = `/proc/${pid}`): SimTask {
  const t = s.tasks[String(pid)];
  if (!t) throw kernelError(op, target, 'ENOENT', 'no such task');
  return t;
}

/** Resolves a namespace path from the root namespace; null when any part is missing. */
export function findNs(s: SimState, path: NsPath): SimNs | null {
  let ns: SimNs = s.root;
  for (const p of path) {
    const c = ns.children[p];
    if (!c) return null;
    ns = c;
  }
  return ns;
}

/** aa_may_manage_policy: lock_policy, capability and profile checks, user namespace level, visibility. */
function mayManagePolicy(s: SimState, caller: SimTask, target: NsPath, op: string, where: string): void {
  const deny = (why: string) => kernelError(op, where, 'EACCES', why);
  if (!aaActive(s)) throw kernelError(op, where, 'ENOENT', 'AppArmor is not active, so its securityfs files do not exist');
  if (s.apparmor.lockPolicy) throw deny('policy is locked (lock_policy)');
  if (!caller.caps.includes('mac_admin')) throw deny('the caller lacks CAP_MAC_ADMIN');
  if (caller.usernsLevel > 0 && !s.apparmor.unprivilegedUsernsPolicy) throw deny('policy admin from a user namespace needs unprivileged_userns_apparmor_policy');
  if (!isUnconfined(caller.label)) {
    const ok = caller.label.every((c) => c.profile === 'unconfined' || findNs(s, c.ns)?.profiles[c.profile]?.macAdmin);
    if (!ok) throw deny('the caller\'s profile does not allow capability mac_admin');
  }
  const view = viewOf(caller.label);
  if (!view.every((p, i) => target[i] === p)) throw deny('the target namespace is not visible from the caller\'s namespace');
}

/** SPEC §5 / B6: any active LSM may deny in the permission phase; nothing has changed yet. */
function permissionPhase(s: SimState, op: string, where: string): void {
  for (const d of s.denials) {
    if (d.op === op && s.lsms.includes(d.lsm)) throw kernelError(op, where, d.errno, `denied by ${d.lsm} in the permission phase`);
  }
}

/** A transition-phase failure injected for tests; consumed when it fires. */
function fault(s: SimState, op: string, target: string): string | null {
  const i = s.faults.findIndex((f) => f.op === op && (f.target === undefined || f.target === target));
  if (i < 0) return null;
  const f = s.faults[i]!;
  if (f.remaining !== undefined && --f.remaining <= 0) s.faults.splice(i, 1);
  return f.errno;
}

/**
 * Runs transition steps in order; when one fails, the ones already done are undone in reverse, so a failed
 * creation leaves nothing behind (the permission-then-transition split of the LSM namespacing proposals).
 */
function transitionPhase(steps: { name: string; run: () => void; undo: () => void }[]): void {
  const done: { undo: () => void }[] = [];
  for (const st of steps) {
    try {
      st.run();
      done.push(st);
    } catch (e) {
      for (const d of done.reverse()) d.undo();
      throw e;
    }
  }
}

function allocNsId(s: SimState, op: string, where: string): string {
  const id = BigInt(s.nextNsId);
  // 64-bit and never wraps: when the space is used up, creation fails instead of reusing an id.
  if (id > U64_MAX) throw kernelError(op, where, 'EOVERFLOW', 'the 64-bit namespace id space is used up');
  s.nextNsId = (id + 1n).toString();
  return id.toString();
}

export function mkdirNs(s: SimState, callerPid: number, hname: string): SimNs {
  const path = nsPathOf(hname);
  const where = `<securityfs>/${fsPath(hname)}`;
  const op = 'mkdir';
  const name = path[path.length - 1];
  if (!name) throw kernelError(op, where, 'EEXIST', 'the root namespace always exists');
  const caller = task(s, callerPid, op, where);
  if (Buffer.byteLength(name) > VFS_NAME_MAX) throw kernelError(op, where, 'ENAMETOOLONG');
  if (name === '.' || name === '..') throw kernelError(op, where, 'EEXIST');
  if (name.includes('\0')) throw kernelError(op, where, 'EINVAL');
  const parent = findNs(s, path.slice(0, -1));
  if (!parent || !aaActive(s)) throw kernelError(op, where, 'ENOENT', 'the parent namespace does not exist');
  // The VFS finds an existing entry before the filesystem's mkdir (and its permission check) runs.
  if (parent.children[name]) throw kernelError(op, where, 'EEXIST');
  mayManagePolicy(s, caller, path, op, where);
  permissionPhase(s, 'nsCreate', where);
  // __aa_create_ns: "if (parent->level > MAX_NS_DEPTH) return -ENOSPC".
  if (s.apparmor.maxNsDepth !== null && parent.level > s.apparmor.maxNsDepth) throw kernelError(op, where, 'ENOSPC', `parent level ${parent.level} is over MAX_NS_DEPTH ${s.apparmor.maxNsDepth}`);
  let created: SimNs | null = null;
  transitionPhase([
    {
      name: 'apparmor',
      run: () => {
        const e = fault(s, 'nsCreate', hname);
        if (e) throw kernelError(op, where, e, 'failed in the transition phase (injected)');
        created = { id: '', name, level: parent.level + 1, seq: s.nextSeq++, profiles: {}, children: {} };
        parent.children[name] = created;
      },
      undo: () => { delete parent.children[name]; },
    },
    {
      name: 'id',
      run: () => { created!.id = allocNsId(s, op, where); },
      undo: () => {},
    },
  ]);
  return created!;
}

/**
 * Labels of tasks confined in a removed namespace fall back to that namespace's unconfined (Part A:
 * ":busyns:unconfined"). The kernel updates only the labels kept in the removed namespace's label set, which
 * are those whose first (sorted) profile is in it: a stacked "outer//&:ns:p" lives in the root namespace's set
 * and keeps reading "outer//&:ns:p" (seen on 6.1 and 6.12, test/fixtures/fidelity).
 */
function orphanTasks(s: SimState, path: NsPath): void {
  const inside = (ns: NsPath) => ns.length >= path.length && path.every((p, i) => ns[i] === p);
  for (const t of Object.values(s.tasks)) {
    if (t.label.length > 0 && inside(t.label[0]!.ns)) {
      t.label = sortComponents(t.label.map((c) => (inside(c.ns) ? { ns: c.ns, profile: 'unconfined', mode: 'unconfined' } : c)));
    }
    if (t.onexec?.some((c) => inside(c.ns))) t.onexec = null;
  }
}

export function rmdirNs(s: SimState, callerPid: number, hname: string): void {
  const path = nsPathOf(hname);
  const where = `<securityfs>/${fsPath(hname)}`;
  const op = 'rmdir';
  const caller = task(s, callerPid, op, where);
  if (path.length === 0) throw kernelError(op, where, 'EBUSY', 'the root namespace cannot be removed');
  const parent = findNs(s, path.slice(0, -1));
  const ns = parent?.children[path[path.length - 1]!];
  if (!parent || !ns || !aaActive(s)) throw kernelError(op, where, 'ENOENT');
  mayManagePolicy(s, caller, path, op, where);
  permissionPhase(s, 'nsRemove', where);
  const e = fault(s, 'nsRemove', hname);
  if (e) throw kernelError(op, where, e, 'failed (injected)');
  // rmdir is recursive and has no EBUSY for tasks inside (B1, Part A).
  delete parent.children[ns.name];
  orphanTasks(s, path);
}

export function profileFlags(rules: string[]): { changeProfile: boolean; macAdmin: boolean } {
  return {
    changeProfile: rules.some((r) => /^(audit\s+)?change_profile\b/.test(r)),
    macAdmin: rules.some((r) => /^(audit\s+)?(allow\s+)?capability(\s*$|\s+.*\bmac_admin\b)/.test(r)),
  };
}

/** One write of a policy to policy/namespaces/NS/.replace (or .load): every profile in it, or none. */
export function loadPolicyInto(s: SimState, callerPid: number, hname: string, policy: Pick<LintedPolicy, 'profiles'>, digest: string, mode: 'replace' | 'load'): string[] {
  const path = nsPathOf(hname);
  const where = `<securityfs>/${fsPath(hname)}/.${mode}`;
  const op = 'write';
  const caller = task(s, callerPid, op, where);
  const ns = findNs(s, path);
  if (!ns || !aaActive(s)) throw kernelError(op, where, 'ENOENT');
  mayManagePolicy(s, caller, path, op, where);
  permissionPhase(s, 'policyLoad', where);
  const names = policy.profiles.map((p) => p.name);
  if (names.some((n) => n.startsWith(':'))) throw kernelError(op, where, 'EACCES', 'namespaced profile names are refused by lsmns before load');
  if (mode === 'load') for (const n of names) if (ns.profiles[n]) throw kernelError(op, where, 'EEXIST', `profile ${n} exists`);
  const e = fault(s, 'policyLoad', hname);
  if (e) throw kernelError(op, where, e, 'failed (injected)');
  for (const p of policy.profiles) {
    // Replacement keeps the profile's place in the listing; a new profile goes to the front.
    const prev = ns.profiles[p.name];
    ns.profiles[p.name] = { mode: p.mode, ...profileFlags(p.rules), digest, rules: p.rules, seq: prev?.seq ?? s.nextSeq++ };
  }
  return [...names].sort();
}

/** The `profiles` file as a task in `view` reads it: own namespace bare, sub-namespaces as :ns:, newest first. */
export function profilesListing(s: SimState, view: NsPath): string[] {
  const out: string[] = [];
  const walk = (ns: SimNs, path: NsPath) => {
    const rel = path.slice(view.length);
    const ps = Object.entries(ns.profiles).sort((a, b) => b[1].seq - a[1].seq);
    for (const [name, p] of ps) out.push(`${rel.length === 0 ? name : `:${rel.join('//')}:${name}`} (${p.mode})`);
    for (const c of Object.values(ns.children).sort((a, b) => b.seq - a.seq)) walk(c, [...path, c.name]);
  };
  const start = findNs(s, view);
  if (start) walk(start, view);
  return out;
}

/** Resolves a written label against the writer's view; ENOENT for a missing namespace or profile. */
function resolve(s: SimState, text: string, view: NsPath, op: string, where: string): { stack: boolean; components: ResolvedComponent[] } {
  const parsed = parseLabel(text);
  if (!parsed) throw kernelError(op, where, 'EINVAL', `malformed label ${JSON.stringify(text)}`);
  const components: ResolvedComponent[] = [];
  // A bare name resolves in the namespace of the last namespaced component before it (label.c's currbase):
  // ":t:p//&outer" looks for outer in t (ENOENT on 6.1 and 6.12), not in the writer's namespace.
  let base = view;
  for (const c of parsed.components) {
    const path = c.ns === null ? base : [...view, ...nsPathOf(c.ns)];
    base = path;
    const ns = findNs(s, path);
    if (!ns) throw kernelError(op, where, 'ENOENT', `namespace ${c.ns} does not exist`);
    if (c.profile === 'unconfined') {
      components.push({ ns: path, profile: 'unconfined', mode: 'unconfined' });
      continue;
    }
    const p = ns.profiles[c.profile];
    if (!p) throw kernelError(op, where, 'ENOENT', `profile ${c.profile} does not exist in ${path.length ? `:${nsHname(path)}:` : 'the root namespace'}`);
    components.push({ ns: path, profile: c.profile, mode: p.mode });
  }
  return { stack: parsed.stack, components };
}

function mayChangeProfile(s: SimState, t: SimTask): boolean {
  return t.label.every((c) => c.profile === 'unconfined' || findNs(s, c.ns)?.profiles[c.profile]?.changeProfile === true);
}

/** Which LSM a write to a shared attr file reaches: the display LSM when set, else the first procattr LSM. */
function sharedTarget(s: SimState, t: SimTask): string | null {
  return t.display ?? sharedAttrLsm(s.lsms);
}

/** A write to /proc/<pid>/attr/<attr> by task `writerPid` (proc_pid_attr_write, apparmor do_setattr). */
export function writeAttr(s: SimState, writerPid: number, pid: number, attr: string, value: string): void {
  const where = `/proc/${pid}/attr/${attr}`;
  const op = 'write';
  const writer = task(s, writerPid, op, where);
  const t = task(s, pid, op, where);
  if (attr === 'display' || attr === 'interface_lsm') {
    if (s.boot.display !== attr) throw kernelError('open', where, 'ENOENT', 'this kernel has no such interface (mainline has none)');
    if (writer.pid !== t.pid) throw kernelError(op, where, 'EPERM', 'only a task can set its own display LSM');
    const lsm = value.trim();
    if (!s.lsms.includes(lsm)) throw kernelError(op, where, 'EINVAL', `${lsm} is not an active LSM`);
    t.display = lsm;
    return;
  }
  if (attr.startsWith('apparmor/') && !hasApparmorDir(s)) throw kernelError('open', where, 'ENOENT', 'no /proc/<pid>/attr/apparmor/ before Linux 5.8');
  if (writer.pid !== t.pid) throw kernelError(op, where, 'EPERM', 'only the task itself may write its attr files, even as root');
  if (Buffer.byteLength(value) > PAGE_SIZE) throw kernelError(op, where, 'EINVAL', 'larger than a page');
  if (!attr.startsWith('apparmor/') && sharedTarget(s, t) !== 'apparmor') {
    throw kernelError(op, where, 'EINVAL', `the shared attr files reach ${sharedTarget(s, t) ?? 'no LSM'}, not AppArmor`);
  }
  if (!aaActive(s)) throw kernelError(op, where, 'EINVAL', 'AppArmor is not active');
  applyAaCommand(s, t, attr.endsWith('exec') ? 'exec' : 'current', value, op, where);
}

/** lsm_set_self_attr(LSM_ATTR_EXEC or CURRENT, apparmor): same commands as /proc, self only (6.8+). */
export function lsmSetSelfAttr(s: SimState, pid: number, attr: 'exec' | 'current', value: string): void {
  const where = `lsm_set_self_attr(${attr === 'exec' ? 'LSM_ATTR_EXEC' : 'LSM_ATTR_CURRENT'}, apparmor)`;
  if (!hasLsmSyscalls(s)) throw kernelError('syscall', where, 'ENOSYS');
  if (!aaActive(s)) throw kernelError('syscall', where, 'EOPNOTSUPP');
  applyAaCommand(s, task(s, pid, 'syscall', where), attr, value, 'syscall', where);
}

function applyAaCommand(s: SimState, t: SimTask, attr: 'exec' | 'current', value: string, op: string, where: string): void {
  const text = value.replace(/\0+$/, '').replace(/\n$/, '');
  const sp = text.indexOf(' ');
  const cmd = sp < 0 ? text : text.slice(0, sp);
  const arg = sp < 0 ? '' : text.slice(sp + 1);
  const allowed = attr === 'exec' ? ['exec', 'stack'] : ['changeprofile', 'permprofile', 'stack', 'changehat', 'permhat'];
  if (!allowed.includes(cmd) || arg.length === 0) throw kernelError(op, where, 'EINVAL', `"${cmd}" is not a valid ${attr} command`);
  if (cmd === 'changehat' || cmd === 'permhat') throw kernelError(op, where, 'EINVAL', 'hats are not modelled');
  const r = resolve(s, cmd === 'stack' ? `&${arg.replace(/^&/, '')}` : arg, viewOf(t.label), op, where);
  if (!isUnconfined(t.label) && !mayChangeProfile(s, t)) throw kernelError(op, where, 'EACCES', 'the current profile has no change_profile rule');
  if (attr === 'exec') {
    t.onexec = r.components;
    t.onexecStack = r.stack;
  } else {
    t.label = r.stack ? sortComponents([...t.label, ...r.components]) : sortComponents(r.components);
  }
}

function isSubset(next: ResolvedComponent[], of: ResolvedComponent[]): boolean {
  return of.every((o) => o.profile === 'unconfined' || next.some((n) => nsHname(n.ns) === nsHname(o.ns) && n.profile === o.profile));
}

export function spawn(s: SimState, parentPid: number, comm: string, container: string | null = null): SimTask {
  const parent = task(s, parentPid, 'fork');
  const pid = s.nextPid++;
  // fork copies the credentials: label, pending onexec, display LSM, no_new_privs (KERNEL-FACTS Part A, B4).
  const child: SimTask = { ...structuredClone(parent), pid, ppid: parentPid, comm, container };
  s.tasks[String(pid)] = child;
  return child;
}

/** execve: a pending onexec label is applied (stacked or replacing); no_new_privs allows only subsets (4.17+). */
export function exec(s: SimState, pid: number, comm: string): void {
  const t = task(s, pid, 'execve');
  if (t.onexec) {
    const next = t.onexecStack ? sortComponents([...t.label, ...t.onexec]) : sortComponents(t.onexec);
    if (t.nnp && !isUnconfined(t.label) && !isSubset(next, t.label)) throw kernelError('execve', comm, 'EPERM', 'no_new_privs allows only a subset of the current label');
    t.label = next;
    t.onexec = null;
    t.onexecStack = false;
  }
  t.comm = comm;
}

export function exitTask(s: SimState, pid: number): void {
  if (pid === 1) throw kernelError('exit', '/proc/1', 'EPERM', 'init cannot exit');
  task(s, pid, 'exit');
  delete s.tasks[String(pid)];
}

export function readLabel(s: SimState, readerPid: number, pid: number): string {
  const reader = task(s, readerPid, 'read');
  return renderLabel(task(s, pid, 'read', `/proc/${pid}/attr/current`).label, viewOf(reader.label));
}

/** SPEC §5 / B6 model of the proposed lsm_unshare: every LSM may deny first; a failed transition unwinds. */
export function lsmUnshare(s: SimState, pid: number, lsms: string[]): string {
  const where = 'lsm_unshare (model of the proposed syscall; no kernel has it)';
  const t = task(s, pid, 'unshare', where);
  for (const l of lsms) if (!s.lsms.includes(l)) throw kernelError('unshare', where, 'EINVAL', `${l} is not active`);
  permissionPhase(s, 'unshare', where);
  if (lsms.includes('apparmor')) mayManagePolicy(s, t, viewOf(t.label), 'unshare', where);
  const view = viewOf(t.label);
  const name = `unshare-${s.nextNsId}`;
  const hname = nsHname([...view, name]);
  const before = structuredClone(t.label);
  transitionPhase(lsms.map((l) => ({
    name: l,
    run: () => {
      const e = fault(s, 'unshare', l);
      if (e) throw kernelError('unshare', where, e, `${l} failed in the transition phase (injected)`);
      if (l === 'apparmor') {
        mkdirNs(s, pid, hname);
        t.label = sortComponents([...t.label, { ns: nsPathOf(hname), profile: 'unconfined', mode: 'unconfined' }]);
      }
    },
    undo: () => {
      if (l === 'apparmor') {
        t.label = before;
        const parent = findNs(s, view);
        if (parent) delete parent.children[name];
      }
    },
  })));
  return hname;
}

export function listChildren(s: SimState, hname: string): string[] | null {
  const ns = findNs(s, nsPathOf(hname));
  return ns ? Object.keys(ns.children).sort() : null;
}
