// The `lsmns plan` use case: read inputs, plan each against the node facts, pick the exit code.

import { ExitCode } from '../errors.js';
import { FORMAT_VERSION } from '../format.js';
import type { NodeFacts } from '../kernel/facts.js';
import { analysePlans, type AnalysisOptions } from './analyse.js';
import { loadInputs, type InputSource } from './inputs.js';
import { invalidPlan, plan } from '../plan/planner.js';
import type { RequestOptions } from '../plan/request.js';
import type { Plan } from '../plan/types.js';

/** The worst outcome decides: invalid input (2) over not possible (3) over success (0). */
export function exitCodeFor(plans: Plan[]): number {
  if (plans.some((p) => p.outcome === 'invalid')) return ExitCode.InvalidInput;
  if (plans.some((p) => p.outcome === 'infeasible')) return ExitCode.NotPossible;
  return ExitCode.Ok;
}

/** Plans every input; with analysis options, each plan's policy is linted and compared with its host bound. */
export async function planInputs(src: InputSource, facts: NodeFacts, opts: RequestOptions, analysis?: AnalysisOptions): Promise<Plan[]> {
  const inputs = await loadInputs(src, opts);
  const plans = inputs.map((i) => (i.kind === 'request' ? plan(i.request, facts) : invalidPlan(i.ref, i.problems, facts, opts.delivery)));
  return analysis ? analysePlans(plans, analysis) : plans;
}

/** JSON output: one plan as itself, several as a versioned list. */
export function plansJson(plans: Plan[]): unknown {
  return plans.length === 1 ? plans[0] : { kind: 'PlanList', formatVersion: FORMAT_VERSION, items: plans };
}
