// The `lsmns apply` use case: plan each input against the backend's own facts, then apply the plan
// through the ports. With no runtime to do it, it plays the runtime too, so the result shows confined tasks.

import { ExitCode, toLsmnsError, type LsmnsError } from '../errors.js';
import { FORMAT_VERSION } from '../format.js';
import type { Backend } from '../kernel/factory.js';
import type { PolicyStore } from '../policy/store.js';
import { loadInputs, type InputSource } from './inputs.js';
import { invalidPlan, plan } from '../plan/planner.js';
import type { RequestOptions } from '../plan/request.js';
import type { Plan } from '../plan/types.js';
import { applyPlan, type ApplyResult, type ApplyStage } from '../apply/executor.js';

export interface ApplyItem {
  plan: Plan;
  result: ApplyResult | null;
  error: LsmnsError | null;
}

export interface ApplyRunOptions extends RequestOptions {
  backend: Backend;
  policies: PolicyStore;
  stateDir: string;
  stage: ApplyStage;
  policyWaitMs: number;
}

/** The references `lsmns apply` holds: one per app container of the pod (a runtime would use container ids). */
export function refsOf(p: Plan): string[] {
  if (p.input.containerId) return [p.input.containerId];
  return p.containers.map((c) => c.name);
}

export async function applyInputs(src: InputSource, o: ApplyRunOptions): Promise<ApplyItem[]> {
  const facts = await o.backend.kernel.probe();
  const inputs = await loadInputs(src, o);
  const items: ApplyItem[] = [];
  for (const i of inputs) {
    const p = i.kind === 'request' ? plan(i.request, facts) : invalidPlan(i.ref, i.problems, facts, o.delivery);
    if (p.outcome === 'noop') {
      items.push({ plan: p, result: null, error: null });
      continue;
    }
    try {
      const result = await applyPlan(p, {
        port: o.backend.kernel, runtime: o.backend.runtime, policies: o.policies, stateDir: o.stateDir, stage: o.stage, refs: refsOf(p),
        actors: ['hook', 'shim', 'webhook', 'kernel'], policyWaitMs: o.policyWaitMs,
      });
      items.push({ plan: p, result, error: null });
    } catch (e) {
      items.push({ plan: p, result: null, error: toLsmnsError(e) });
    }
  }
  return items;
}

export function applyExitCode(items: ApplyItem[]): number {
  const codes = items.map((i) => i.error?.exitCode ?? ExitCode.Ok);
  for (const c of [ExitCode.Internal, ExitCode.InvalidInput, ExitCode.NotPossible, ExitCode.ApplyFailed]) if (codes.includes(c)) return c;
  return ExitCode.Ok;
}

export function applyJson(items: ApplyItem[]): unknown {
  const one = (i: ApplyItem) => (i.error ? { ...i.error.toJSON(), podKey: i.plan.input.podKey } : i.result ?? { podKey: i.plan.input.podKey, outcome: 'noop' });
  return items.length === 1 ? one(items[0]!) : { kind: 'ApplyList', formatVersion: FORMAT_VERSION, items: items.map(one) };
}
