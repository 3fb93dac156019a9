// The AppArmor policy parser: the generated grammar (grammar.peggy) for the syntax, then includes spliced in
// through an injected resolver, variables collected, and the checks apparmor_parser makes before compiling
// (permission letters, capability and network names, undefined variables, hats outside profiles). Pure: no
// filesystem access here (includes.ts reads files); bounded on hostile input (limits below).

import { LsmnsError, ExitCode } from '../errors.js';
import { checkPattern, GlobError } from './glob.js';
import { parse as peggyParse, SyntaxError as PeggySyntaxError } from './grammar.js';
import type {
  GArg, GenericKind, GenericRule, Include, Policy, Pos, Profile, Quals, RawItem, RawProfile, RawRule, Rule,
} from './ast.js';

/** One problem in a policy, placed by file, line and column (1-based). */
export interface PolicyProblem { file: string; line: number; column: number; message: string }

export interface IncludeRef { name: string; angle: boolean; ifExists: boolean; from: string }
/** A file (or every file of a directory) that an include names; null when it does not exist. */
export type IncludeResolver = (ref: IncludeRef) => { file: string; text: string }[] | null;

export interface ParseOptions {
  /** Resolves includes; without one, includes are recorded but not read (their variables are then unknown). */
  resolve?: IncludeResolver;
}

/** Limits that keep hostile policies bounded in time and memory (apparmor_parser's own are looser). */
export const LIMITS = { fileBytes: 512 << 10, lineChars: 64 << 10, nesting: 64, includeDepth: 32, includedBytes: 32 << 20, includedFiles: 4000 };

export class PolicyError extends LsmnsError {
  constructor(readonly policyProblems: PolicyProblem[]) {
    const p = policyProblems[0]!;
    super({
      code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput,
      message: `${p.file}:${p.line}:${p.column}: ${p.message}${policyProblems.length > 1 ? ` (and ${policyProblems.length - 1} more)` : ''}`,
      remedy: 'fix the policy text at that line (apparmor_parser -Q -K FILE checks it the same way) and publish it again',
      details: { problems: policyProblems },
    });
  }
}

const fail = (file: string, line: number, column: number, message: string): PolicyError => new PolicyError([{ file, line, column, message }]);

/** NUL bytes, over-long lines and deep nesting are refused before the grammar sees them. */
function prescan(text: string, file: string): void {
  if (text.length > LIMITS.fileBytes) throw fail(file, 1, 1, `file is larger than ${LIMITS.fileBytes} bytes`);
  let line = 1; let col = 0; let lineStart = 0; let depth = 0; let quote = false; let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    col = i - lineStart + 1;
    if (c === 0) throw fail(file, line, col, 'NUL byte in policy text');
    if (c === 10) {
      if (i - lineStart > LIMITS.lineChars) throw fail(file, line, LIMITS.lineChars, `line longer than ${LIMITS.lineChars} characters`);
      line++; lineStart = i + 1; comment = false; continue;
    }
    if (comment) continue;
    if (quote) { if (c === 34) quote = false; else if (c === 92) i++; continue; }
    if (c === 34) quote = true;
    else if (c === 35 && (i === 0 || /\s/.test(text[i - 1]!)) && !text.startsWith('#include', i)) comment = true;
    else if (c === 123 || c === 40) { if (++depth > LIMITS.nesting) throw fail(file, line, col, `nesting deeper than ${LIMITS.nesting} levels`); }
    else if (c === 125 || c === 41) depth = Math.max(0, depth - 1);
  }
  if (text.length - lineStart > LIMITS.lineChars) throw fail(file, line, LIMITS.lineChars, `line longer than ${LIMITS.lineChars} characters`);
}

function syntax(text: string, file: string, start: 'Policy' | 'Body'): RawItem[] {
  prescan(text, file);
  try {
    return peggyParse(text, { grammarSource: file, startRule: start });
  } catch (e) {
    if (e instanceof PeggySyntaxError) {
      const { line, column } = e.location.start;
      throw fail(file, line, column, e.expected ? describeSyntaxError(e) : e.message);
    }
    if (e instanceof RangeError) throw fail(file, 1, 1, 'policy too complex to parse');
    throw e;
  }
}

function describeSyntaxError(e: PeggySyntaxError): string {
  const found = e.found === null ? 'end of input' : JSON.stringify(e.found);
  const wanted = [...new Set((e.expected ?? []).filter((x) => x.type === 'literal' && x.text && !/^(\s|#)|\\/.test(x.text)).map((x) => `"${x.text}"`))];
  const unclosed = e.found === null ? ' (a "{" is not closed with "}"?)' : '';
  return `syntax error: unexpected ${found}${wanted.length > 0 && wanted.length <= 6 ? `, expected ${wanted.join(' or ')}` : ''}${unclosed}`;
}

// ---- vocabularies apparmor_parser checks ----
const CAPS = new Set(('chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable net_bind_service '
  + 'net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot '
  + 'sys_nice sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog '
  + 'wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore').split(' '));
export const NET_DOMAINS = new Set(('unix inet ax25 ipx appletalk netrom bridge atmpvc x25 inet6 rose netbeui security key netlink packet '
  + 'ash econet atmsvc rds sna irda pppox wanpipe llc ib mpls can tipc bluetooth iucv rxrpc isdn phonet ieee802154 caif alg nfc '
  + 'vsock kcm qipcrtr smc xdp mctp').split(' '));
export const NET_TYPES = new Set('stream dgram seqpacket rdm raw packet'.split(' '));
const NET_PROTOCOLS = new Set('tcp udp icmp icmpv6'.split(' '));
const RLIMITS = new Set('cpu fsize data stack core rss nproc nofile memlock as locks sigpending msgqueue nice rtprio rttime'.split(' '));
const PROFILE_FLAGS = new Set(('complain enforce audit kill unconfined user prompt mediate_deleted delegate_deleted attach_disconnected '
  + 'no_attach_disconnected chroot_relative namespace_relative chroot_attach chroot_no_attach debug interruptible kill.signal').split(' '));
const GENERIC_PERMS = new Set(('r w rw read write send receive trace tracedby readby bind listen accept connect shutdown getattr setattr '
  + 'getopt setopt create eavesdrop open delete associate sqpoll override_creds exec append link lock mmap').split(' '));

/** The exec transitions of a file rule's permissions; null when it has none. */
export const EXEC_MODES = ['ix', 'px', 'Px', 'ux', 'Ux', 'cx', 'Cx', 'pix', 'Pix', 'cix', 'Cix', 'pux', 'PUx', 'cux', 'CUx', 'x'] as const;

/** Splits file permissions into access letters and one exec mode, or says why apparmor_parser refuses them. */
export function parseFilePerms(perms: string, deny: boolean): { access: Set<string>; exec: string | null } | string {
  const access = new Set<string>();
  let exec: string | null = null;
  let i = 0;
  while (i < perms.length) {
    const c = perms[i]!;
    if ('rwalkm'.includes(c)) { access.add(c); i++; continue; }
    const m = /^(pix|Pix|cix|Cix|pux|PUx|cux|CUx|ix|px|Px|ux|Ux|cx|Cx|x)/.exec(perms.slice(i));
    if (!m) return `invalid file permission "${c}" in "${perms}"`;
    if (exec !== null) return `conflicting exec modes "${exec}" and "${m[1]}" in "${perms}"`;
    exec = m[1]!;
    i += exec.length;
  }
  if (access.has('w') && access.has('a')) return `permissions "a" and "w" are mutually exclusive in "${perms}"`;
  if (exec === 'x' && !deny) return `"x" must be preceded by an exec qualifier (i, p, c or u) in "${perms}"`;
  if (exec !== null && exec !== 'x' && deny) return `a deny rule takes a plain "x", not "${exec}"`;
  return { access, exec };
}

const VAR_REF = /@\{([^}]*)\}/g;
/** Variables apparmor_parser defines itself, per profile. */
export const BUILTIN_VARS = new Set(['profile_name', 'exec_path', 'attach_path']);

interface Ctx { resolve?: IncludeResolver; problems: PolicyProblem[]; includes: Include[]; stack: string[]; bytes: number; files: number }

function quals(q: string[]): Quals {
  return { audit: q.includes('audit'), deny: q.includes('deny'), owner: q.includes('owner') ? 'owner' : q.includes('other') ? 'other' : 'any' };
}

// abstractions/base and the tunables are included by almost every profile: each (file, text) is parsed once
// and a copy expanded, since expansion rewrites profile bodies. Keyed by the text too, so it is never stale.
const includeCache = new Map<string, RawItem[]>();
function includedSyntax(text: string, file: string, start: 'Policy' | 'Body'): RawItem[] {
  const k = `${start}\0${file}\0${text}`;
  let items = includeCache.get(k);
  if (!items) {
    items = syntax(text, file, start);
    if (includeCache.size >= 512) includeCache.delete(includeCache.keys().next().value!);
    includeCache.set(k, items);
  }
  return structuredClone(items);
}

/** Replaces include items by the items of the files they name, recursively (loops and depth refused). */
function expand(items: RawItem[], file: string, start: 'Policy' | 'Body', ctx: Ctx): { item: RawItem; file: string }[] {
  const out: { item: RawItem; file: string }[] = [];
  for (const item of items) {
    if (item.kind !== 'include') {
      if (item.kind === 'profile') item.body = expand(item.body, file, 'Body', ctx).map((x) => Object.assign(x.item, { __file: x.file }));
      out.push({ item, file });
      continue;
    }
    const pos: Pos = { file, ...item.pos };
    const inc: Include = { name: item.name, angle: item.angle, ifExists: item.ifExists, pos, files: [] };
    ctx.includes.push(inc);
    if (!ctx.resolve) continue;
    if (ctx.stack.length >= LIMITS.includeDepth) throw fail(file, pos.line, pos.column, `includes nested deeper than ${LIMITS.includeDepth} levels`);
    let found: { file: string; text: string }[] | null;
    try {
      found = ctx.resolve({ name: item.name, angle: item.angle, ifExists: item.ifExists, from: file });
    } catch (e) {
      throw fail(file, pos.line, pos.column, `include ${item.angle ? `<${item.name}>` : `"${item.name}"`}: ${(e as Error).message}`);
    }
    if (found === null) {
      if (item.ifExists) continue;
      throw fail(file, pos.line, pos.column, `could not open include ${item.angle ? `<${item.name}>` : `"${item.name}"`}`);
    }
    for (const f of found) {
      if (ctx.stack.includes(f.file)) throw fail(file, pos.line, pos.column, `include loop: ${[...ctx.stack, f.file].join(' -> ')}`);
      ctx.bytes += f.text.length;
      if (++ctx.files > LIMITS.includedFiles || ctx.bytes > LIMITS.includedBytes) {
        throw fail(file, pos.line, pos.column, `includes add more than ${LIMITS.includedFiles} files or ${LIMITS.includedBytes} bytes`);
      }
      inc.files.push(f.file);
      ctx.stack.push(f.file);
      out.push(...expand(includedSyntax(f.text, f.file, start), f.file, start, ctx));
      ctx.stack.pop();
    }
  }
  return out;
}

function genericRule(r: RawRule & { kind: GenericKind; args: GArg[]; target: string | null }, base: { qual: Quals; text: string; pos: Pos }): GenericRule {
  const perms: string[] = []; const words: string[] = []; const conds: GenericRule['conds'] = [];
  r.args.forEach((a, i) => {
    if ('key' in a) conds.push({ key: a.key, op: a.op, value: a.value });
    else if ('items' in a) (i === 0 ? perms : words).push(...a.items);
    else if (GENERIC_PERMS.has(a.word) && r.kind !== 'mount' && r.kind !== 'umount' && r.kind !== 'remount' && r.kind !== 'pivot_root') perms.push(a.word);
    else words.push(a.word);
  });
  return { kind: r.kind, ...base, perms, conds, words, target: r.target };
}

function patternProblem(p: string): string | null {
  try { checkPattern(p); return null; } catch (e) { if (e instanceof GlobError) return e.message; throw e; }
}

function buildRule(r: RawRule, file: string, extraQual: string[], problems: PolicyProblem[]): Rule | null {
  const pos: Pos = { file, ...r.pos };
  const base = { qual: quals([...extraQual, ...r.qual]), text: r.text, pos };
  const bad = (message: string): null => { problems.push({ ...pos, message }); return null; };
  switch (r.kind) {
    case 'file': {
      if (r.path !== null) {
        const p = parseFilePerms(r.perms, base.qual.deny);
        if (typeof p === 'string') return bad(p);
        const why = patternProblem(r.path);
        if (why) return bad(why);
      }
      return { kind: 'file', ...base, path: r.path, perms: r.perms, target: r.target };
    }
    case 'capability':
      for (const n of r.names) if (!CAPS.has(n)) return bad(`invalid capability ${n}`);
      return { kind: 'capability', ...base, names: r.names };
    case 'network': {
      let domain: string | null = null; let type: string | null = null; let protocol: string | null = null;
      for (const w of r.words) {
        if (NET_DOMAINS.has(w) && domain === null && type === null) domain = w;
        else if (NET_TYPES.has(w) && type === null && protocol === null) type = w;
        else if (NET_PROTOCOLS.has(w) && protocol === null && type === null) protocol = w;
        else return bad(`invalid network entry ${w}`);
      }
      return { kind: 'network', ...base, domain, type, protocol };
    }
    case 'link': return { kind: 'link', ...base, subset: r.subset, path: r.path, target: r.target };
    case 'change_profile': return { kind: 'change_profile', ...base, mode: r.mode, path: r.path, target: r.target };
    case 'rlimit':
      if (!RLIMITS.has(r.resource)) return bad(`invalid rlimit ${r.resource}`);
      return { kind: 'rlimit', ...base, resource: r.resource, value: r.value };
    default: return genericRule(r, base);
  }
}

function buildProfile(p: RawProfile, file: string, parent: Profile | null, problems: PolicyProblem[]): Profile {
  const pos: Pos = { file, ...p.pos };
  const hat = p.keyword === '^' || p.keyword === 'hat';
  for (const f of p.flags) if (!PROFILE_FLAGS.has(f.replace(/=.*/, '')) && !/^error=/.test(f)) problems.push({ ...pos, message: `invalid profile flag ${f}` });
  const prof: Profile = {
    name: p.name, fullName: parent ? `${parent.fullName}//${p.name}` : p.name, keyword: p.keyword, hat,
    attachment: p.attachment ?? (p.keyword === null && p.name.startsWith('/') ? p.name : null),
    flags: p.flags, xattrs: p.xattrs, rules: [], children: [], pos,
  };
  const seen = new Set<string>();
  for (const raw of p.body) {
    const f = (raw as { __file?: string }).__file ?? file;
    if (raw.kind === 'profile') {
      const child = buildProfile(raw, f, prof, problems);
      if (seen.has(child.name)) problems.push({ ...child.pos, message: `profile ${child.fullName} is defined twice` });
      seen.add(child.name);
      prof.children.push(child);
    } else if (raw.kind === 'block') {
      for (const r of raw.rules) { const rule = buildRule(r, f, raw.qual, problems); if (rule) prof.rules.push(rule); }
    } else if (raw.kind !== 'abi' && raw.kind !== 'include' && raw.kind !== 'var' && raw.kind !== 'bool' && raw.kind !== 'alias') {
      const rule = buildRule(raw, f, [], problems);
      if (rule) prof.rules.push(rule);
    }
  }
  return prof;
}

/** The strings of a rule in which variables may appear. */
function ruleStrings(r: Rule): string[] {
  switch (r.kind) {
    case 'file': return [r.path ?? '', r.target ?? ''];
    case 'link': return [r.path, r.target];
    case 'change_profile': return [r.path ?? '', r.target ?? ''];
    case 'capability': case 'network': case 'rlimit': return [];
    default: return [...r.words, ...r.conds.flatMap((c) => c.value), r.target ?? ''];
  }
}

function walk(ps: Profile[], f: (p: Profile) => void): void { for (const p of ps) { f(p); walk(p.children, f); } }

/**
 * Parses a policy file. Throws a PolicyError listing every problem found (syntax stops at the first one),
 * each with file, line and column.
 */
export function parsePolicy(text: string, file: string, opts: ParseOptions = {}): Policy {
  const ctx: Ctx = { resolve: opts.resolve, problems: [], includes: [], stack: [file], bytes: text.length, files: 1 };
  const items = expand(syntax(text, file, 'Policy'), file, 'Policy', ctx);
  const problems = ctx.problems;
  const policy: Policy = { file, profiles: [], variables: new Map(), booleans: new Map(), aliases: [], abi: null, includes: ctx.includes };
  const varPos = new Map<string, Pos>();
  const names = new Set<string>();
  for (const { item, file: f } of items) {
    const pos: Pos = { file: f, ...item.pos };
    if (item.kind === 'var') {
      const cur = policy.variables.get(item.name);
      if (item.append && !cur) problems.push({ ...pos, message: `variable @{${item.name}} is appended to ("+=") before it is defined` });
      else if (!item.append && cur) problems.push({ ...pos, message: `variable @{${item.name}} is defined twice (also at ${varPos.get(item.name)!.file}:${varPos.get(item.name)!.line})` });
      else { policy.variables.set(item.name, [...(cur ?? []), ...item.values]); if (!cur) varPos.set(item.name, pos); }
    } else if (item.kind === 'bool') policy.booleans.set(item.name, item.value);
    else if (item.kind === 'alias') policy.aliases.push({ from: item.from, to: item.to, pos });
    else if (item.kind === 'abi') policy.abi ??= { name: item.ref.name, pos };
    else if (item.kind === 'profile') {
      const p = buildProfile(item, f, null, problems);
      if (names.has(p.name)) problems.push({ ...p.pos, message: `profile ${p.name} is defined twice` });
      names.add(p.name);
      policy.profiles.push(p);
    }
  }
  // Undefined variables are only knowable when the includes (the tunables) were read.
  if (opts.resolve) {
    const check = (s: string, pos: Pos): void => {
      for (const m of s.matchAll(VAR_REF)) if (!policy.variables.has(m[1]!) && !BUILTIN_VARS.has(m[1]!)) problems.push({ ...pos, message: `variable @{${m[1]}} is used but never defined` });
    };
    for (const [name, values] of policy.variables) for (const v of values) check(v, varPos.get(name)!);
    walk(policy.profiles, (p) => { if (p.attachment) check(p.attachment, p.pos); for (const r of p.rules) for (const s of ruleStrings(r)) check(s, r.pos); });
  }
  if (problems.length > 0) throw new PolicyError(problems);
  return policy;
}

/**
 * The names apparmor_parser -N prints: every profile, children and hats as parent//child, each level in byte
 * order (the parser keeps profiles in an ordered set), a parent before its children.
 */
export function profileNames(policy: Policy): string[] {
  const out: string[] = [];
  const byName = (a: Profile, b: Profile): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  // A namespaced name prints as ":ns://name", as apparmor_parser -N prints it.
  const shown = (n: string): string => n.replace(/^(:[^:/]+:)(?!\/\/)/, '$1//');
  const visit = (ps: Profile[]): void => { for (const p of [...ps].sort(byName)) { out.push(shown(p.fullName)); visit(p.children); } };
  visit(policy.profiles);
  return out;
}
