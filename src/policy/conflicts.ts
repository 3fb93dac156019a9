// Host/tenant conflicts (issue 14, KERNEL-FACTS B6): a tenant profile stacked under a host profile gets the
// intersection of both, so whatever the tenant allows and the host denies, or never grants, fails at run time,
// invisibly from inside the container. This finds those rules at plan time. File rules are compared exactly
// (glob automata, permission letters, owner and deny honoured); capabilities, network, mount, signal, ptrace
// and unix by their parsed fields. Pure: it takes parsed policies, reads nothing.

import type { FileRule, GenericRule, NetworkRule, Policy, Profile, Quals, Rule } from './ast.js';
import { compileGlob, difference, expandVariables, filterSlashes, GlobError, intersect, unionGlobs, type Glob } from './glob.js';
import { parseFilePerms, parsePolicy, PolicyError, type IncludeResolver } from './parser.js';

export interface RuleRef { profile: string; file: string; line: number; rule: string }

export interface Conflict {
  kind: 'file' | 'capability' | 'network' | 'mount' | 'remount' | 'umount' | 'pivot_root' | 'signal' | 'ptrace' | 'unix';
  tenant: RuleRef;
  /** The host rule that denies it; null when the host profile simply does not grant it. */
  host: RuleRef | null;
  reason: 'denied' | 'not-granted';
  /** Permissions (file letters, capability names, ...) that the tenant rule allows and the stack does not. */
  lost: string[];
  /** A path (file rules) that the tenant rule matches and the host refuses, when there is one to show. */
  example: string | null;
  /** What the workload sees at run time. */
  effect: string;
}

const ALL_FILES = '{/,/**}';
const FILE_LETTERS = ['r', 'w', 'a', 'l', 'k', 'm', 'x'] as const;
const LETTER_OP: Record<string, string> = { r: 'read', w: 'write', a: 'append', l: 'link', k: 'lock', m: 'mmap PROT_EXEC', x: 'exec' };

const oneLine = (r: Rule): string => r.text.replace(/\s*,\s*$/, '').replace(/\s+/g, ' ');
const ref = (p: Profile, r: Rule): RuleRef => ({ profile: p.fullName, file: r.pos.file, line: r.pos.line, rule: oneLine(r) });

function walk(ps: Profile[], f: (p: Profile) => void): void { for (const p of ps) { f(p); walk(p.children, f); } }

/** The file permission letters a rule grants (host side: "w" grants append, an inheriting exec grants mmap). */
function letters(r: FileRule, granting: boolean): Set<string> {
  if (r.path === null) return new Set(FILE_LETTERS);
  const p = parseFilePerms(r.perms, r.qual.deny);
  if (typeof p === 'string') return new Set();
  const out = new Set(p.access);
  if (p.exec) out.add('x');
  if (granting && out.has('w')) out.add('a');
  if (granting && p.exec && /i/.test(p.exec)) out.add('m');
  return out;
}

/** Whether a host rule with owner mode `host` applies to accesses a tenant rule with owner mode `tenant` allows. */
function ownerApplies(host: Quals['owner'], tenant: Quals['owner'], deny: boolean): boolean {
  if (host === 'any') return true;
  if (deny) return tenant === 'any' || tenant === host;
  return tenant === host;
}

class HostFiles {
  private readonly globs = new Map<Rule, Glob>();
  constructor(private readonly rules: FileRule[], readonly vars: ReadonlyMap<string, readonly string[]>) {}

  glob(r: FileRule): Glob {
    let g = this.globs.get(r);
    if (!g) { g = compileGlob(r.path ?? ALL_FILES, this.vars); this.globs.set(r, g); }
    return g;
  }

  denies(): FileRule[] { return this.rules.filter((r) => r.qual.deny); }

  /**
   * Everything the host allows for one letter to tenant rules of one owner mode that could touch `pattern`
   * ('all' for a bare "file,", null for nothing). Rules whose literal beginning rules out any overlap are left
   * out of the union: they cannot change the difference, and the union stays small.
   */
  allowed(letter: string, owner: Quals['owner'], pattern: string, vars: ReadonlyMap<string, readonly string[]>): Glob | 'all' | null {
    const rs = this.rules.filter((r) => !r.qual.deny && ownerApplies(r.qual.owner, owner, false) && letters(r, true).has(letter));
    if (rs.some((r) => r.path === null)) return 'all';
    const near = rs.filter((r) => !literalPrefixesClash(pattern, r.path!, vars, this.vars));
    return near.length === 0 ? null : unionGlobs(near.map((r) => this.glob(r)));
  }
}

/**
 * True when two patterns cannot overlap because their literal beginnings (up to the first pattern character,
 * after variables) already differ: an exact shortcut that saves building the product for most rule pairs.
 */
function literalPrefixesClash(a: string, b: string, va: ReadonlyMap<string, readonly string[]>, vb: ReadonlyMap<string, readonly string[]>): boolean {
  const prefixes = (p: string, vars: ReadonlyMap<string, readonly string[]>): string[] | null => {
    try { return expandVariables(p, vars).map((x) => filterSlashes(x).replace(/[*?[{\\].*$/s, '')); } catch { return null; }
  };
  const pa = prefixes(a, va); const pb = prefixes(b, vb);
  if (!pa || !pb) return false;
  return pa.every((x) => pb.every((y) => !x.startsWith(y) && !y.startsWith(x)));
}

const fileEffect = (lost: string[], path: string | null): string =>
  `${lost.map((l) => LETTER_OP[l] ?? l).join(', ')} of ${path ?? 'the matching files'} fails with EACCES`;

function fileConflicts(tp: Profile, t: FileRule, tVars: ReadonlyMap<string, readonly string[]>, hp: Profile, host: HostFiles): Conflict[] {
  const want = letters(t, false);
  if (want.size === 0) return [];
  const tVarsP = new Map([...tVars, ['profile_name', [tp.name]]]);
  const tg = compileGlob(t.path ?? ALL_FILES, tVarsP);
  const out: Conflict[] = [];
  for (const d of host.denies()) {
    if (!ownerApplies(d.qual.owner, t.qual.owner, true)) continue;
    const denied = letters(d, true);
    const lost = [...want].filter((l) => denied.has(l));
    if (lost.length === 0) continue;
    const example = literalPrefixesClash(t.path ?? ALL_FILES, d.path ?? ALL_FILES, tVarsP, host.vars) ? null : intersect(tg, host.glob(d));
    if (example === null) continue;
    out.push({ kind: 'file', tenant: ref(tp, t), host: ref(hp, d), reason: 'denied', lost, example, effect: fileEffect(lost, example) });
  }
  const missing: string[] = [];
  let example: string | null = null;
  for (const l of want) {
    const allowed = host.allowed(l, t.qual.owner, t.path ?? ALL_FILES, tVarsP);
    if (allowed === 'all') continue;
    const w = allowed === null ? intersect(tg, tg) : difference(tg, allowed);
    if (w !== null) { missing.push(l); example ??= w; }
  }
  if (missing.length > 0) {
    out.push({ kind: 'file', tenant: ref(tp, t), host: null, reason: 'not-granted', lost: missing, example, effect: fileEffect(missing, example) });
  }
  return out;
}

const ALL_CAPS = ('chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable net_bind_service '
  + 'net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot '
  + 'sys_nice sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog '
  + 'wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore').split(' ');

function capConflicts(tp: Profile, t: Rule & { kind: 'capability' }, hp: Profile, hostRules: Rule[]): Conflict[] {
  const want = t.names.length === 0 ? ALL_CAPS : t.names;
  const caps = hostRules.filter((r): r is Rule & { kind: 'capability' } => r.kind === 'capability');
  const out: Conflict[] = [];
  const effect = (lost: string[]): string => `operations needing ${lost.map((c) => `CAP_${c.toUpperCase()}`).join(', ')} fail with EPERM`;
  for (const d of caps.filter((r) => r.qual.deny)) {
    const lost = want.filter((c) => d.names.length === 0 || d.names.includes(c));
    if (lost.length > 0) out.push({ kind: 'capability', tenant: ref(tp, t), host: ref(hp, d), reason: 'denied', lost, example: null, effect: effect(lost) });
  }
  const granted = (c: string): boolean => caps.some((a) => !a.qual.deny && (a.names.length === 0 || a.names.includes(c)));
  const missing = want.filter((c) => !granted(c));
  if (missing.length > 0) out.push({ kind: 'capability', tenant: ref(tp, t), host: null, reason: 'not-granted', lost: missing, example: null, effect: effect(missing) });
  return out;
}

const netName = (r: NetworkRule): string => [r.domain, r.type, r.protocol].filter(Boolean).join(' ') || 'all';

function netConflicts(tp: Profile, t: NetworkRule, hp: Profile, hostRules: Rule[]): Conflict[] {
  const nets = hostRules.filter((r): r is NetworkRule => r.kind === 'network');
  const field = ['domain', 'type', 'protocol'] as const;
  const overlaps = (h: NetworkRule): boolean => field.every((f) => h[f] === null || t[f] === null || h[f] === t[f]);
  const covers = (h: NetworkRule): boolean => field.every((f) => h[f] === null || h[f] === t[f]);
  const effect = `socket(${netName(t)}) and its operations fail with EACCES`;
  const out: Conflict[] = [];
  for (const d of nets.filter((r) => r.qual.deny && overlaps(r))) {
    out.push({ kind: 'network', tenant: ref(tp, t), host: ref(hp, d), reason: 'denied', lost: [netName(d)], example: null, effect });
  }
  if (!nets.some((a) => !a.qual.deny && covers(a))) {
    out.push({ kind: 'network', tenant: ref(tp, t), host: null, reason: 'not-granted', lost: [netName(t)], example: null, effect });
  }
  return out;
}

/** Whether two conditional values (globs or plain words) can name the same thing. */
function valuesOverlap(a: string[], b: string[]): boolean {
  return a.some((x) => b.some((y) => {
    if (x === y) return true;
    try { return intersect(compileGlob(x), compileGlob(y)) !== null; } catch (e) { if (e instanceof GlobError) return false; throw e; }
  }));
}
function valuesCover(host: string[], tenant: string[]): boolean {
  return tenant.every((y) => host.some((x) => {
    if (x === y) return true;
    try { return difference(compileGlob(y), compileGlob(x)) === null; } catch (e) { if (e instanceof GlobError) return false; throw e; }
  }));
}

const GENERIC_EFFECT: Record<string, string> = {
  mount: 'mount(2) fails with EACCES', remount: 'a remount fails with EACCES', umount: 'umount(2) fails with EACCES',
  pivot_root: 'pivot_root(2) fails with EACCES', signal: 'kill(2) fails with EACCES (a received signal is dropped)',
  ptrace: 'ptrace(2) and /proc/PID access fail with EACCES', unix: 'the unix socket operation fails with EACCES',
};

function genericConflicts(tp: Profile, t: GenericRule, hp: Profile, hostRules: Rule[]): Conflict[] {
  const same = hostRules.filter((r): r is GenericRule => r.kind === t.kind);
  const permsOverlap = (h: GenericRule): string[] | null => {
    if (h.perms.length === 0) return t.perms.length === 0 ? ['all'] : t.perms;
    if (t.perms.length === 0) return h.perms;
    const x = t.perms.filter((p) => h.perms.includes(p));
    return x.length > 0 ? x : null;
  };
  const condsOverlap = (h: GenericRule): boolean => h.conds.every((c) => {
    const tc = t.conds.find((x) => x.key === c.key);
    return !tc || c.op !== '=' || tc.op !== '=' || valuesOverlap(c.value, tc.value);
  }) && (h.words.length === 0 || t.words.length === 0 || valuesOverlap(h.words, t.words));
  const covers = (h: GenericRule): boolean => (h.perms.length === 0 || (t.perms.length > 0 && t.perms.every((p) => h.perms.includes(p))))
    && h.conds.every((c) => { const tc = t.conds.find((x) => x.key === c.key && x.op === c.op); return tc !== undefined && valuesCover(c.value, tc.value); })
    && (h.words.length === 0 || (t.words.length > 0 && valuesCover(h.words, t.words)))
    && (h.target === null || (t.target !== null && valuesCover([h.target], [t.target])));
  const effect = GENERIC_EFFECT[t.kind] ?? 'the operation fails with EACCES';
  const out: Conflict[] = [];
  for (const d of same.filter((r) => r.qual.deny)) {
    const lost = permsOverlap(d);
    if (lost && condsOverlap(d)) out.push({ kind: t.kind as Conflict['kind'], tenant: ref(tp, t), host: ref(hp, d), reason: 'denied', lost, example: null, effect });
  }
  const deniedAll = out.some((c) => c.lost.includes('all'));
  if (!deniedAll && !same.some((a) => !a.qual.deny && covers(a))) {
    out.push({ kind: t.kind as Conflict['kind'], tenant: ref(tp, t), host: null, reason: 'not-granted', lost: t.perms.length > 0 ? t.perms : ['all'], example: null, effect });
  }
  return out;
}

const ANALYSED = new Set(['mount', 'remount', 'umount', 'pivot_root', 'signal', 'ptrace', 'unix']);

/**
 * Every tenant rule (in every tenant profile, children and hats included, includes expanded) whose permissions
 * the host profile denies or does not grant, in tenant file order. Tenant deny rules only take permissions away,
 * so they never conflict.
 */
export function findConflicts(host: { policy: Policy; profile: Profile }, tenant: Policy): Conflict[] {
  const hp = host.profile;
  const hostVars = new Map([...host.policy.variables, ['profile_name', [hp.name]]]);
  const hostFiles = new HostFiles(hp.rules.filter((r): r is FileRule => r.kind === 'file'), hostVars);
  const out: Conflict[] = [];
  walk(tenant.profiles, (tp) => {
    for (const r of tp.rules) {
      if (r.qual.deny) continue;
      if (r.kind === 'file') out.push(...fileConflicts(tp, r, tenant.variables, hp, hostFiles));
      else if (r.kind === 'capability') out.push(...capConflicts(tp, r, hp, hp.rules));
      else if (r.kind === 'network') out.push(...netConflicts(tp, r, hp, hp.rules));
      else if (ANALYSED.has(r.kind)) out.push(...genericConflicts(tp, r as GenericRule, hp, hp.rules));
    }
  });
  return out;
}

/** Finds a profile by its -N name (parent//child for children) in a parsed policy. */
export function findProfile(policy: Policy, name: string): Profile | null {
  let found: Profile | null = null;
  walk(policy.profiles, (p) => { if (p.fullName === name && !found) found = p; });
  return found;
}

export interface PlanConflicts { conflicts: Conflict[]; warnings: string[] }

/**
 * What the plan needs: the host profile `hostProfile` looked up by name in the host files (a directory's
 * worth of texts), the tenant policy parsed, and their conflicts. Never throws for bad input: a missing host
 * profile or an unparsable file becomes a warning that names it, since conflicts are advice, not a blocker.
 */
export function conflictsForPlan(
  hostFiles: { file: string; text: string }[], hostProfile: string, tenant: { file: string; text: string }, resolve?: IncludeResolver,
): PlanConflicts {
  const warnings: string[] = [];
  let host: { policy: Policy; profile: Profile } | null = null;
  for (const f of hostFiles) {
    // Cheap filter: a file that does not mention the name cannot define it (parsing all of /etc/apparmor.d is not).
    if (!f.text.includes(hostProfile.split('//')[0]!)) continue;
    try {
      const policy = parsePolicy(f.text, f.file, { resolve });
      const profile = findProfile(policy, hostProfile);
      if (profile) { host = { policy, profile }; break; }
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      warnings.push(`host profile file ${f.file} does not parse (${e.message}); its profiles are not compared`);
    }
  }
  if (!host) {
    warnings.push(`host profile ${hostProfile} is not defined in the host profile files, so tenant rules are not compared with it`);
    return { conflicts: [], warnings };
  }
  let policy: Policy;
  try {
    policy = parsePolicy(tenant.text, tenant.file, { resolve });
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    warnings.push(`policy ${tenant.file} does not parse (${e.message}); no conflicts computed`);
    return { conflicts: [], warnings };
  }
  try {
    return { conflicts: findConflicts(host, policy), warnings };
  } catch (e) {
    if (!(e instanceof GlobError)) throw e;
    warnings.push(`conflicts not computed: ${e.message}`);
    return { conflicts: [], warnings };
  }
}
