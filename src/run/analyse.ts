// Policy analysis at plan time (SPEC §4, §6), after the pure planner: the pod's policy, when it is on this node,
// is linted as a tenant's (an escaping policy makes the plan invalid, exit 2), and each container's host bound
// (its own profile, or the runtime default the shim keeps) is compared with it: every tenant rule the host denies
// or never grants becomes a conflict, which is advice, so the plan stays feasible. A policy or host profile that
// is not at hand is a warning that names it, never a failure. The parser loads only here, lazily.

import { escapeValue } from '../schema/names.js';
import { Keys } from '../schema/keys.js';
import { RUNTIME_DEFAULT_PROFILE } from '../plan/request.js';
import type { LoadPolicyStep, Plan, PlanConflict, Warning } from '../plan/types.js';
import type { Problem } from '../errors.js';
import { toLsmnsError } from '../errors.js';
import type { PolicySource, PolicyStore } from '../policy/store.js';

export interface AnalysisOptions {
  policies: PolicyStore;
  /** Where the host profiles are read by name (--host-profile-dir). */
  hostProfileDir: string;
  /** The hook's wait for a late policy, for the warning's wording. */
  policyWaitMs: number;
}

type Policies = typeof import('../policy/lint.js') & typeof import('../policy/conflicts.js') & typeof import('../policy/includes.js');

/** Analyses each ready plan that loads a policy; reads each policy and the host profile directory once per run. */
export async function analysePlans(plans: Plan[], o: AnalysisOptions): Promise<Plan[]> {
  if (!plans.some((p) => p.outcome === 'ready' && p.steps.some((s) => s.kind === 'loadPolicy'))) return plans;
  const [lint, conflicts, includes] = await Promise.all([import('../policy/lint.js'), import('../policy/conflicts.js'), import('../policy/includes.js')]);
  const lib: Policies = { ...lint, ...conflicts, ...includes };
  const texts = new Map<string, Promise<PolicySource | Error>>();
  let hostFiles: { file: string; text: string }[] | null = null;
  const ctx = { lib, texts, hostFiles: () => (hostFiles ??= lib.readProfileDir(o.hostProfileDir)) };
  const out: Plan[] = [];
  for (const p of plans) out.push(await analyse(p, o, ctx));
  return out;
}

async function analyse(p: Plan, o: AnalysisOptions, ctx: { lib: Policies; texts: Map<string, Promise<PolicySource | Error>>; hostFiles: () => { file: string; text: string }[] }): Promise<Plan> {
  const step = p.steps.find((s): s is LoadPolicyStep => s.kind === 'loadPolicy' && s.status === 'planned');
  if (p.outcome !== 'ready' || !step) return p;
  const a = step.args;
  const where = o.policies.locate(a);
  if (!ctx.texts.has(where)) ctx.texts.set(where, o.policies.read(a, { waitMs: 0 }).catch((e: unknown) => e as Error));
  const src = await ctx.texts.get(where)!;
  const warnings: Warning[] = [...p.warnings];
  if (src instanceof Error) {
    const err = toLsmnsError(src);
    if (err.code !== 'PolicyNotFound') return invalid(p, [{ key: Keys.policy, value: escapeValue(a.policy), rule: err.message, example: 'a regular file of at most 1 MiB in the policy store' }]);
    warnings.push({ code: 'PolicyNotOnNode', message: `policy ${a.policy} is not on this node yet (${where}): it is not checked here; at createRuntime the hook waits up to ${o.policyWaitMs} ms for it, then refuses the start` });
    return { ...p, warnings };
  }
  const resolve = ctx.lib.fileIncludeResolver(o.policies.includeDirs);
  const checked = ctx.lib.checkPolicyText(src.text, src.path, { as: 'tenant', resolve });
  if (!checked.ok) {
    return invalid(p, checked.problems.map((x) => ({ key: Keys.policy, value: escapeValue(a.policy), rule: `${src.path}:${x.line}:${x.column}: ${x.message}`, example: `a policy whose profiles stay in their own namespace (lsmns policy check --as tenant ${src.path})` })));
  }
  const missing = a.profiles.filter((x) => !checked.profiles.includes(x));
  if (missing.length > 0) {
    return invalid(p, missing.map((x) => ({ key: Keys.profile, value: escapeValue(x), rule: `policy ${a.policy} (${src.path}) does not define this profile; it defines ${checked.profiles.join(', ') || 'none'}`, example: checked.profiles[0] ?? 'web' })));
  }

  const found: PlanConflict[] = [];
  const seen = new Set<string>();
  for (const c of p.containers) {
    if (c.role !== 'app' || !c.profile || c.profile === 'unconfined') continue;
    // The runtime default is the bound only where the shim keeps it: a pod that declares no profile, bounded.
    const implicit = !c.hostProfile && p.input.source.kind === 'pod' && p.input.delivery === 'shim' && p.input.spec?.stacking === 'bounded';
    const host = c.hostProfile ?? (implicit ? RUNTIME_DEFAULT_PROFILE.shim : null);
    if (!host || seen.has(`${host}\0${c.profile}`)) continue;
    seen.add(`${host}\0${c.profile}`);
    const r = ctx.lib.conflictsForPlan(ctx.hostFiles(), host, { file: src.path, text: src.text }, resolve);
    // The runtime default is not a file on most nodes (containerd loads it from its own template): say nothing then.
    if (!implicit) for (const w of r.warnings) warnings.push({ code: 'HostProfileNotAnalysed', message: `container ${c.name}: ${w}` });
    const mine = r.conflicts.filter((x) => x.tenant.profile === c.profile || x.tenant.profile.startsWith(`${c.profile}//`));
    for (const x of mine) found.push({ container: c.name, hostProfile: host, ...x });
    if (mine.length > 0) {
      warnings.push({ code: 'HostPolicyConflicts', message: `container ${c.name}: ${mine.length} rule${mine.length === 1 ? '' : 's'} of profile ${c.profile} ${mine.length === 1 ? 'is' : 'are'} denied or not granted by host profile ${host}${implicit ? ' (the runtime default the shim keeps)' : ''}; they fail at run time (see conflicts)` });
    }
  }
  return { ...p, warnings, conflicts: [...p.conflicts, ...found] };
}

function invalid(p: Plan, problems: Problem[]): Plan {
  return { ...p, outcome: 'invalid', feasible: false, steps: [], problems: [...p.problems, ...problems] };
}
