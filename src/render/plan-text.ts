// Human views of plans and apply results, in the spirit of a Terraform plan. Renderers only read the
// JSON form (plain data); they never decide anything, so the text and --output json cannot drift apart.

import { formatProblem } from '../schema/annotations.js';
import type { ApplyResult } from '../apply/executor.js';
import type { Plan, PlanConflict, Step } from '../plan/types.js';
import { policyFileOf } from '../policy/ref.js';

const SYMBOL: Record<string, string> = { check: '<=', create: ' +', load: ' +', set: ' ~', transition: ' ~', remove: ' -' };
export const LEGEND = 'Symbols: <= check, + create, ~ change, - remove (at poststop), # skipped';

function podName(p: Plan): string {
  const pod = p.input.pod;
  const id = pod.name ? `${pod.namespace ?? 'default'}/${pod.name}` : p.input.containerId ? `container ${p.input.containerId}` : p.input.source.ref;
  return `${id}${pod.uid ? ` (uid ${pod.uid})` : ''}`;
}

function stepSummary(s: Step): string {
  switch (s.kind) {
    case 'checkNode':
      return `AppArmor, policy namespaces${s.args.stacking ? ', stacking' : ''}, policy admin; new namespace at level ${s.args.level} of ${s.args.maxDepth}`;
    case 'createNamespace':
      return `${s.args.namespace}  (owner ${s.args.owner})`;
    case 'loadPolicy':
      return `${s.args.policy} -> :${s.args.namespace}:  from the policy store's ${policyFileOf(s.args)}${s.args.profiles.length ? `  (profiles: ${s.args.profiles.join(', ')})` : ''}`;
    case 'setDisplayLsm':
      return 'interface' in s.args ? `apparmor via /proc/self/attr/${s.args.interface}` : s.reason;
    case 'transitionRootTask':
      return s.status === 'planned' && s.args.role === 'app' ? `${s.args.container}: ${s.args.label}` : `${s.args.container}: ${s.reason}`;
    case 'removeNamespace':
      return `${s.args.namespace}  when the pod's last container stops`;
  }
}

function stepLine(s: Step): string {
  const sym = s.status === 'skipped' ? ' #' : SYMBOL[s.action]!;
  const where = s.status === 'skipped' ? '' : `  [${s.realizedBy} @ ${s.stage}]`;
  return `  ${sym} ${s.kind.padEnd(20)}${stepSummary(s)}${where}`;
}

/** One conflict: the tenant rule, what it loses, which host rule takes it (or that none grants it), the effect. */
export function conflictLine(c: PlanConflict): string {
  const host = c.host ? `denied by ${c.host.file}:${c.host.line} "${c.host.rule}"` : `not granted by host profile ${c.hostProfile}`;
  return `${c.container}: ${c.tenant.file}:${c.tenant.line} "${c.tenant.rule}" (profile ${c.tenant.profile}) loses ${c.lost.join(', ')}, ${host}; ${c.effect}`;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderPlanText(p: Plan): string {
  const out: string[] = [];
  const node = `node: kernel ${p.input.node.kernel}, LSMs ${p.input.node.lsms.join(',')} (${p.input.node.source})`;
  switch (p.outcome) {
    case 'noop':
      out.push(`Pod ${podName(p)}: no lsmns.io/ annotations; lsmns leaves it alone.`);
      break;
    case 'invalid':
      out.push(`Pod ${podName(p)}: invalid lsmns input; nothing will be done (exit 2).`);
      for (const pr of p.problems) out.push(`  error: ${formatProblem(pr)}`);
      break;
    case 'infeasible':
      out.push(`Pod ${podName(p)}: not possible on this node; nothing will be done (exit 3).`);
      out.push(`  ${node}`);
      for (const b of p.blockers) {
        out.push(`  blocker ${b.code}: ${b.message}`);
        out.push(`    remedy: ${b.remedy}`);
      }
      break;
    case 'ready': {
      out.push(`Pod ${podName(p)} -> AppArmor namespace ${p.namespace!.name}${p.namespace!.derivedFrom ? ` (auto, from the ${p.namespace!.derivedFrom})` : ''}`);
      out.push(`  ${node}`);
      out.push('');
      for (const s of p.steps) out.push(stepLine(s));
      const moved = p.steps.filter((s) => s.kind === 'transitionRootTask' && s.status === 'planned').length;
      const skipped = p.steps.filter((s) => s.status === 'skipped').length;
      const loads = p.steps.filter((s) => s.kind === 'loadPolicy').length;
      out.push('');
      out.push(`Plan: 1 namespace to create, ${count(loads, 'policy', 'policies')} to load, ${count(moved, 'container')} to confine, ${skipped} skipped; removal at poststop.`);
      if (p.conflicts.length > 0) {
        out.push('');
        out.push(`Conflicts with the host bound (${p.conflicts.length}; the plan stays feasible, these rules fail at run time):`);
        for (const c of p.conflicts) out.push(`  ! ${conflictLine(c)}`);
      }
      break;
    }
  }
  for (const w of p.warnings) out.push(`  warning ${w.code}: ${w.message}`);
  return out.join('\n');
}

export function renderPlansText(plans: Plan[]): string {
  const body = plans.map(renderPlanText).join('\n\n');
  return plans.some((p) => p.outcome === 'ready') ? `${LEGEND}\n\n${body}\n` : `${body}\n`;
}

const OUTCOME_MARK: Record<string, string> = { done: 'done   ', noop: 'no-op  ', skipped: 'skipped', 'not-mine': 'not-mine', undone: 'undone ' };

export function renderApplyText(r: ApplyResult, where: string): string {
  const out = [`Applied stage ${r.stage} for ${r.podKey} (namespace ${r.namespace ?? '-'}) on ${where}`];
  for (const x of r.results) out.push(`  ${String(x.id).padStart(2)} ${x.kind.padEnd(20)}${OUTCOME_MARK[x.outcome] ?? x.outcome}  ${x.detail}`);
  for (const t of r.tasks) out.push(`  task ${t.pid} (${t.container}) runs as ${t.label}`);
  return out.join('\n');
}
