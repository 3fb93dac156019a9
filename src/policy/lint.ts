// The namespace-escape lint (SPEC §4) on the real parser, and `lsmns policy check`'s library function. A tenant
// policy is loaded into the namespace the plan chose; anything in it that names another namespace, or a stacked
// label, would let it reach outside that namespace, so it is refused before any load.

import { existsSync } from 'node:fs';
import { ExitCode, LsmnsError } from '../errors.js';
import type { Policy, Profile, Rule } from './ast.js';
import { expandVariables } from './glob.js';
import { DEFAULT_INCLUDE_DIRS, fileIncludeResolver, readPolicyFile } from './includes.js';
import { PolicyError, parsePolicy, profileNames, type IncludeResolver, type PolicyProblem } from './parser.js';

export type PolicyRole = 'tenant' | 'host';

function walk(ps: Profile[], f: (p: Profile) => void): void { for (const p of ps) { f(p); walk(p.children, f); } }

/** A transition target that leaves the namespace: ":ns:x", ":ns://x", or a stack ("a//&b", "&b"). */
function escapingTarget(t: string): string | null {
  const s = t.replace(/^"|"$/g, '');
  if (s.startsWith(':')) return 'targets a profile in another namespace';
  if (s.includes('//&') || s.startsWith('&')) return 'targets a stacked label ("//&")';
  return null;
}

/** Every value a name can take once variables are expanded (a variable could hide ":ns:"). */
function expansions(s: string, vars: ReadonlyMap<string, readonly string[]>): string[] {
  try { return expandVariables(s, vars); } catch { return [s]; }
}

function ruleEscape(r: Rule, vars: ReadonlyMap<string, readonly string[]>): string | null {
  const first = (t: string): string | null => expansions(t, vars).map(escapingTarget).find((w) => w !== null) ?? null;
  if (r.kind === 'change_profile' && r.target) {
    const why = first(r.target);
    return why && `change_profile ${why}`;
  }
  if (r.kind === 'file' && r.target && /[pc]/i.test(r.perms.replace(/[rwalkm]/g, ''))) {
    const why = first(r.target);
    return why && `exec transition ${why}`;
  }
  return null;
}

const leavesIncludeDirs = (ref: { name: string; angle: boolean }): boolean => ref.name.split('/').includes('..') || (!ref.angle && ref.name.startsWith('/'));

/** The tenant checks on a parsed policy: every problem, each with file, line and column. */
export function lintTenant(policy: Policy): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  walk(policy.profiles, (p) => {
    if (expansions(p.name, policy.variables).some((n) => n.startsWith(':'))) {
      problems.push({ ...p.pos, message: `profile ${p.fullName} addresses a namespace; a pod's policy defines profiles only in the namespace the plan gives it` });
    } else if (p.name.includes('//')) {
      problems.push({ ...p.pos, message: `profile ${p.fullName} names a child profile at top level; declare children inside their profile` });
    }
    for (const r of p.rules) {
      const why = ruleEscape(r, policy.variables);
      if (why) problems.push({ ...r.pos, message: `profile ${p.fullName}: ${why} (${r.text.replace(/\s*,$/, '')})` });
    }
  });
  for (const inc of policy.includes) {
    if (leavesIncludeDirs(inc)) {
      problems.push({ ...inc.pos, message: `include ${inc.name} leaves the include directories; a pod's policy may include <...> files only` });
    }
  }
  return problems;
}

export interface CheckOptions { as?: PolicyRole; resolve?: IncludeResolver }
export interface CheckResult { file: string; ok: boolean; profiles: string[]; problems: { line: number; column: number; message: string }[]; policy: Policy | null }

/** Parses (and for a tenant, lints) one policy text: never throws for bad policy, reports it. */
export function checkPolicyText(text: string, file: string, opts: CheckOptions = {}): CheckResult {
  const show = (p: PolicyProblem) => ({ line: p.line, column: p.column, message: p.file === file ? p.message : `in ${p.file}: ${p.message}` });
  // A tenant's include of /etc/shadow must not even be read (a parse error would quote it).
  const inner = opts.resolve;
  const resolve: IncludeResolver | undefined = inner && opts.as === 'tenant'
    ? (ref) => { if (leavesIncludeDirs(ref)) throw new Error('leaves the include directories; a pod\'s policy may include <...> files only'); return inner(ref); }
    : inner;
  let policy: Policy;
  try {
    policy = parsePolicy(text, file, { resolve });
  } catch (e) {
    if (e instanceof PolicyError) return { file, ok: false, profiles: [], problems: e.policyProblems.map(show), policy: null };
    throw e;
  }
  const problems = opts.as === 'tenant' ? lintTenant(policy) : [];
  return { file, ok: problems.length === 0, profiles: profileNames(policy), problems: problems.map(show), policy };
}

/** The old parse.ts result shape, so that callers of lintPolicy can switch to this module unchanged. */
export interface LintedProfile {
  name: string; attachment: string | null; flags: string[];
  mode: 'enforce' | 'complain' | 'kill' | 'unconfined' | 'user';
  /** Rule statements (includes expanded), without the trailing comma, in order. */
  rules: string[]; children: LintedProfile[]; line: number;
}
export interface LintedPolicy { profiles: LintedProfile[]; preamble: string[]; policy: Policy }

function linted(p: Profile): LintedProfile {
  const f = p.flags;
  const mode = f.includes('complain') ? 'complain' : f.includes('kill') ? 'kill' : f.includes('unconfined') ? 'unconfined' : f.includes('user') ? 'user' : 'enforce';
  return {
    name: p.name, attachment: p.attachment, flags: f, mode, line: p.pos.line,
    rules: p.rules.map((r) => r.text.replace(/\s*,$/, '').replace(/\s+/g, ' ')), children: p.children.map(linted),
  };
}

export interface LintOptions { as?: PolicyRole; includeDirs?: string[]; resolve?: IncludeResolver }

/**
 * Parses a policy and, as a tenant's (the default), lints it; throws a PolicyError (exit 2) naming file, line,
 * column and reason. Includes resolve against includeDirs (default /etc/apparmor.d).
 */
export function lintPolicy(text: string, where: string, opts: LintOptions = {}): LintedPolicy {
  // A node without any include directory (the sim's) still lints: includes are then recorded, not read.
  const dirs = (opts.includeDirs ?? DEFAULT_INCLUDE_DIRS).filter((d) => existsSync(d));
  const resolve = opts.resolve ?? (dirs.length > 0 ? fileIncludeResolver(dirs) : undefined);
  const r = checkPolicyText(text, where, { as: opts.as ?? 'tenant', resolve });
  if (!r.ok) throw new PolicyError(r.problems.map((p) => ({ file: where, ...p })));
  if (r.policy!.profiles.length === 0) {
    throw new LsmnsError({ code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput, message: `${where}: defines no profile`, remedy: 'add a "profile NAME { ... }" block', details: {} });
  }
  return { profiles: r.policy!.profiles.map(linted), preamble: [], policy: r.policy! };
}

export interface CheckReport { files: Omit<CheckResult, 'policy'>[] }

/**
 * `lsmns policy check`: every file parsed (and linted with as=tenant), includes searched in `includeDirs`
 * (those that exist). A file that cannot be read is refused like one that does not parse.
 */
export function checkPolicyFiles(files: string[], opts: { as?: PolicyRole; includeDirs: string[] }): CheckReport {
  const dirs = opts.includeDirs.filter((d) => existsSync(d));
  const resolve = fileIncludeResolver(dirs);
  return {
    files: files.map((file) => {
      let text: string;
      try {
        text = readPolicyFile(file);
      } catch (e) {
        return { file, ok: false, profiles: [], problems: [{ line: 0, column: 0, message: `cannot read the policy: ${(e as Error).message}` }] };
      }
      const { policy: _policy, ...r } = checkPolicyText(text, file, { as: opts.as, resolve });
      return r;
    }),
  };
}

export function renderCheckText(r: CheckReport): string {
  return r.files.map((f) => (f.ok
    ? `${f.file}: ok (profiles: ${f.profiles.join(', ') || 'none'})`
    : f.problems.map((p) => `${f.file}:${p.line}:${p.column}: ${p.message}`).join('\n'))).join('\n');
}
