// File mediation in the simulated kernel (issue 14 item 5): an access is decided through the task's whole label
// stack, and allowed only if every layer allows it, as the kernel's stacked labels (and the security-namespace
// paper's operation router) do. Each layer's rules are the loaded profile's, read with the real policy parser;
// a deny rule wins over allow rules, a permission no rule grants is refused, complain mode allows and says what
// enforce would have refused. Loaded lazily by `lsmns sim check` only: never on the hook path.

import { LsmnsError, ExitCode, invalidInput } from '../../errors.js';
import { nsHname } from '../label.js';
import type { FileRule, Policy } from '../../policy/ast.js';
import { compileGlob, GlobError, matches } from '../../policy/glob.js';
import { parseFilePerms, parsePolicy, PolicyError, type IncludeResolver } from '../../policy/parser.js';
import { findNs, type SimState } from './model.js';

export type LayerVerdict = 'allow' | 'deny' | 'complain' | 'unconfined';

export interface LayerDecision {
  /** The component as the root namespace names it: "p", ":ns:p". */
  label: string;
  verdict: LayerVerdict;
  /** The rule that decided (a deny, or the allow that granted the first permission); null when none did. */
  rule: { text: string; where: string } | null;
  reason: string;
}

export interface AccessDecision { pid: number; path: string; perm: string; owner: boolean; allowed: boolean; decidedBy: LayerDecision | null; layers: LayerDecision[] }

const PERM = /^[rwalkmx]+$/;

/** The permission letters a file rule grants or denies ("w" covers append, any exec mode is "x"). */
function ruleLetters(r: FileRule): Set<string> {
  if (r.path === null) return new Set('rwalkmx');
  const p = parseFilePerms(r.perms, r.qual.deny);
  if (typeof p === 'string') return new Set();
  const out = new Set(p.access);
  if (p.exec) out.add('x');
  if (out.has('w')) out.add('a');
  return out;
}

/** The loaded profile's rules as a policy text the parser reads (the sim stores statements without commas). */
function profileText(name: string, rules: string[]): string {
  const body = rules.map((r) => (/^#?include\b/.test(r) ? `  ${r.replace(/^#/, '')}` : `  ${r},`)).join('\n');
  return `profile ${JSON.stringify(name)} {\n${body}\n}\n`;
}

function decideLayer(policy: Policy, path: string, letters: string[], owner: boolean): { verdict: 'allow' | 'deny'; rule: FileRule | null; reason: string } {
  const files = policy.profiles[0]!.rules.filter((r): r is FileRule => r.kind === 'file' && (owner || r.qual.owner !== 'owner') && r.qual.owner !== 'other');
  const hit = (r: FileRule, l: string): boolean => {
    if (!ruleLetters(r).has(l)) return false;
    try { return matches(compileGlob(r.path ?? '{/,/**}', new Map([...policy.variables, ['profile_name', [policy.profiles[0]!.name]]])), path); } catch (e) { if (e instanceof GlobError) return false; throw e; }
  };
  for (const l of letters) {
    const deny = files.find((r) => r.qual.deny && hit(r, l));
    if (deny) return { verdict: 'deny', rule: deny, reason: `"${l}" denied` };
  }
  let first: FileRule | null = null;
  for (const l of letters) {
    const allow = files.find((r) => !r.qual.deny && hit(r, l));
    if (!allow) return { verdict: 'deny', rule: null, reason: `"${l}" not granted by the profile` };
    first ??= allow;
  }
  return { verdict: 'allow', rule: first, reason: `${letters.join('')} granted` };
}

/**
 * Decides whether task `pid` may access `path` with permissions `perm` (letters of r w a l k m x). `owner`
 * says whether the task owns the file (owner rules apply only then). Includes in loaded profiles are read
 * through `resolve` (none: they are not read, and the decision says so through its rules only).
 */
export function checkAccess(s: SimState, pid: number, path: string, perm: string, opts: { owner?: boolean; resolve?: IncludeResolver } = {}): AccessDecision {
  if (!PERM.test(perm)) throw invalidInput('InvalidPermission', `--perm ${JSON.stringify(perm)} is not a file permission`, 'use letters of r w a l k m x, for example --perm rw');
  if (!path.startsWith('/')) throw invalidInput('InvalidPath', `--path ${JSON.stringify(path)} is not absolute`, 'give an absolute path such as /etc/hosts');
  const task = s.tasks[String(pid)];
  if (!task) throw new LsmnsError({ code: 'NoSuchTask', exitCode: ExitCode.InvalidInput, message: `no task ${pid} in the simulated kernel`, remedy: 'see lsmns sim show for the tasks' });
  const owner = opts.owner ?? false;
  const letters = [...new Set(perm)];
  const layers: LayerDecision[] = task.label.map((c) => {
    const label = c.ns.length === 0 ? c.profile : `:${nsHname(c.ns)}:${c.profile}`;
    if (c.profile === 'unconfined') return { label, verdict: 'unconfined', rule: null, reason: 'unconfined allows every access' };
    const prof = findNs(s, c.ns)?.profiles[c.profile];
    if (!prof) return { label, verdict: 'deny', rule: null, reason: 'the profile is not loaded' };
    let policy: Policy;
    try {
      policy = parsePolicy(profileText(c.profile, prof.rules), `${label} (loaded)`, { resolve: opts.resolve });
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      return { label, verdict: 'deny', rule: null, reason: `its rules do not parse: ${e.message}` };
    }
    const d = decideLayer(policy, path, letters, owner);
    const src = `${label} (loaded)`;
    const rule = d.rule && {
      text: d.rule.text.replace(/\s*,\s*$/, ''),
      where: d.rule.pos.file === src ? `rule ${d.rule.pos.line - 1}` : `${d.rule.pos.file}:${d.rule.pos.line}`,
    };
    if (d.verdict === 'deny' && prof.mode === 'complain') return { label, verdict: 'complain', rule, reason: `complain mode (enforce would refuse: ${d.reason})` };
    return { label, verdict: d.verdict, rule, reason: d.reason };
  });
  const refused = layers.find((l) => l.verdict === 'deny') ?? null;
  return { pid, path, perm, owner, allowed: refused === null, decidedBy: refused ?? layers[layers.length - 1] ?? null, layers };
}

export function renderAccessText(d: AccessDecision): string {
  const head = `${d.allowed ? 'allowed' : 'denied'}: ${d.perm} on ${d.path} by pid ${d.pid}${d.owner ? ' (owner)' : ''}`;
  const lines = d.layers.map((l) => `  ${l.label}: ${l.verdict}${l.rule ? ` by ${l.rule.where} "${l.rule.text}"` : ''} (${l.reason})`);
  return [head, ...lines].join('\n');
}
