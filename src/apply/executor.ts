// The executor: applies a Plan's steps through the kernel port, in order. Every effect is journalled with
// its undo; when a step fails, the journal is unwound in reverse, so the node ends as it was before the run,
// and nothing this run did not create is touched (SPEC §2).

import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';
import { formatProblem } from '../schema/annotations.js';
import { feasibility } from '../plan/planner.js';
import type { Plan, Realizer, Step } from '../plan/types.js';
import type { KernelPort, SpawnedTask } from '../kernel/port.js';
import { lintPolicy } from '../policy/parse.js';
import { readPolicy, type PolicySource } from '../policy/store.js';
import { OwnershipStore, OWNER_FORMAT_VERSION, type OwnerRecord } from './ownership.js';

export const RESULT_FORMAT_VERSION = '1';

export type ApplyStage = 'create' | 'poststop';

export interface StepResult {
  id: number;
  kind: Step['kind'];
  outcome: 'done' | 'noop' | 'skipped' | 'not-mine' | 'undone';
  detail: string;
}

export interface ApplyResult {
  formatVersion: typeof RESULT_FORMAT_VERSION;
  stage: ApplyStage;
  podKey: string;
  namespace: string | null;
  refs: string[];
  results: StepResult[];
  tasks: { container: string; pid: number; label: string }[];
}

export interface ApplyContext {
  port: KernelPort;
  stateDir: string;
  stage: ApplyStage;
  /** The references this run takes (create) or releases (poststop): container ids, or container names. */
  refs: string[];
  /** Which realizers this caller acts for. The hook is ["hook"]; `lsmns apply` on the sim is all of them. */
  actors: Realizer[];
  /** Realises transitionRootTask by starting a task that applies the label itself, as a runtime's init would (sim demo). */
  simulateRuntime?: boolean;
  policyWaitMs?: number;
  now?: () => Date;
  log?: (event: Record<string, unknown>) => void;
}

interface JournalEntry {
  step: Step;
  what: string;
  undo: () => Promise<void>;
}

/** Refuses a plan that cannot be applied, with the exit code that says why. */
export function assertApplicable(plan: Plan): void {
  if (plan.outcome === 'invalid') {
    throw invalidInput('InvalidAnnotation', `invalid lsmns input for ${plan.input.source.ref}: ${plan.problems.map(formatProblem).join('; ')}`, 'fix the annotations named above; lsmns changed nothing', plan.problems);
  }
  if (plan.outcome === 'infeasible') {
    throw new LsmnsError({ code: 'NotPossibleOnNode', exitCode: ExitCode.NotPossible, message: plan.blockers.map((b) => `${b.code}: ${b.message}`).join('; '), remedy: plan.blockers.map((b) => b.remedy).join('; '), details: { blockers: plan.blockers } });
  }
}

async function preflightPolicy(step: Step | undefined, ctx: ApplyContext): Promise<PolicySource | null> {
  if (!step) return null;
  const a = step.args as { policy: string; file: string; profiles: string[] };
  const src = await readPolicy(a.policy, a.file, { waitMs: ctx.policyWaitMs ?? 0 });
  const parsed = lintPolicy(src.text, `${a.policy} (${a.file})`);
  const defined = new Set(parsed.profiles.map((p) => p.name));
  const missing = a.profiles.filter((p) => !defined.has(p));
  if (missing.length > 0) {
    throw new LsmnsError({
      code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput,
      message: `policy ${a.policy} (${a.file}) does not define profile ${missing.join(', ')} named by lsmns.io/apparmor-profile or container.lsmns.io/; it defines ${[...defined].join(', ')}`,
      remedy: 'name a profile the policy defines, or add it to the policy',
    });
  }
  return src;
}

export async function applyPlan(plan: Plan, ctx: ApplyContext): Promise<ApplyResult> {
  assertApplicable(plan);
  const ns = plan.namespace!.name;
  const stageSteps = plan.steps.filter((s) => (ctx.stage === 'poststop' ? s.stage === 'poststop' : s.stage === 'createRuntime' || s.stage === 'create'));
  const mine = (s: Step) => ctx.actors.includes(s.realizedBy);
  const result: ApplyResult = { formatVersion: RESULT_FORMAT_VERSION, stage: ctx.stage, podKey: plan.input.podKey, namespace: ns, refs: ctx.refs, results: [], tasks: [] };
  const log = ctx.log ?? (() => {});

  // Everything that can be checked without changing anything is checked first: node, policy text.
  const facts = await ctx.port.probe();
  if (ctx.stage === 'create') {
    const blockers = feasibility(plan.input.spec!, facts);
    if (blockers.length > 0) assertApplicable({ ...plan, outcome: 'infeasible', blockers });
  }
  const policyStep = stageSteps.find((s) => s.kind === 'loadPolicy' && s.status === 'planned' && mine(s));
  const policy = ctx.stage === 'create' ? await preflightPolicy(policyStep, ctx) : null;
  const owners = new OwnershipStore({ stateDir: ctx.stateDir, backend: ctx.port.backend, bootId: await ctx.port.bootId() });
  const now = ctx.now ?? (() => new Date());

  return owners.withLock(ns, async () => {
    const journal: JournalEntry[] = [];
    let current: Step | null = null;
    try {
      for (const step of stageSteps) {
        current = step;
        if (step.status === 'skipped') {
          result.results.push({ id: step.id, kind: step.kind, outcome: 'skipped', detail: step.reason });
          continue;
        }
        if (!mine(step)) {
          result.results.push({ id: step.id, kind: step.kind, outcome: 'skipped', detail: `realized by the ${step.realizedBy}, not by this ${ctx.actors.join('/')}` });
          continue;
        }
        const r = await runStep(step);
        result.results.push({ id: step.id, kind: step.kind, ...r });
        log({ event: 'step', stage: ctx.stage, id: step.id, kind: step.kind, ...r, namespace: ns, podKey: plan.input.podKey });
      }
      if (ctx.stage === 'create') await verify();
      return result;
    } catch (e) {
      const err = toLsmnsError(e);
      const unwound: string[] = [];
      const failedUndo: string[] = [];
      for (const j of journal.reverse()) {
        try {
          await j.undo();
          unwound.push(j.what);
          result.results.push({ id: j.step.id, kind: j.step.kind, outcome: 'undone', detail: j.what });
        } catch (ue) {
          failedUndo.push(`${j.what}: ${(ue as Error).message}`);
        }
      }
      log({ event: 'unwind', stage: ctx.stage, namespace: ns, podKey: plan.input.podKey, unwound, failedUndo, error: err.message });
      const at = current ? `step ${current.id} ${current.kind} ns "${ns}"` : `ns "${ns}"`;
      if (journal.length === 0 && failedUndo.length === 0 && err.exitCode !== ExitCode.ApplyFailed) throw err.wrap(at);
      throw new LsmnsError({
        code: failedUndo.length > 0 ? 'UnwindIncomplete' : err.code,
        exitCode: ExitCode.ApplyFailed,
        errno: err.errno,
        message: `${at}: ${err.message}${unwound.length ? `; unwound: ${unwound.join(', ')}` : '; nothing had been changed'}${failedUndo.length ? `; could NOT undo: ${failedUndo.join(', ')}` : ''}`,
        remedy: failedUndo.length ? `remove what could not be undone by hand, then fix the cause: ${err.remedy}` : err.remedy,
        cause: err,
        details: { ...err.details, unwound, failedUndo, step: current?.id },
      });
    }

    async function runStep(step: Step): Promise<Omit<StepResult, 'id' | 'kind'>> {
      switch (step.kind) {
        case 'checkNode':
          return { outcome: 'done', detail: `AppArmor active (${facts.lsms.join(',')}), policy namespaces, policy admin; level ${facts.apparmor.nsLevel + 1}` };
        case 'createNamespace':
          return createNamespace(step);
        case 'loadPolicy':
          return loadPolicy(step);
        case 'setDisplayLsm':
          if (ctx.simulateRuntime) return { outcome: 'done', detail: 'the simulated runtime init sets its display LSM to apparmor before exec' };
          await ctx.port.writeTaskAttr('self', (step.args.interface as 'display' | 'interface_lsm') ?? 'display', 'apparmor');
          return { outcome: 'done', detail: 'display LSM of this process set to apparmor; children inherit it' };
        case 'transitionRootTask':
          return transition(step);
        case 'removeNamespace':
          return removeNamespace();
      }
    }

    async function createNamespace(step: Step): Promise<Omit<StepResult, 'id' | 'kind'>> {
      const rec = owners.get(ns);
      const exists = await ctx.port.namespaceExists(ns);
      const addRefs = (r: OwnerRecord) => {
        const added = ctx.refs.filter((x) => !r.refs.includes(x));
        if (added.length === 0) return;
        r.refs = [...r.refs, ...added].sort();
        owners.put(r);
        journal.push({ step, what: `released reference ${added.join(', ')}`, undo: async () => {
          const cur = owners.get(ns);
          if (cur) owners.put({ ...cur, refs: cur.refs.filter((x) => !added.includes(x)) });
        } });
      };
      if (rec && rec.podKey !== plan.input.podKey) {
        throw new LsmnsError({ code: 'NamespaceOwnedByOther', exitCode: ExitCode.ApplyFailed, message: `AppArmor namespace ${ns} belongs to another pod (${rec.podKey}); lsmns never joins it silently`, remedy: 'give this pod its own lsmns.io/apparmor-namespace (or "auto"); if that pod is gone, lsmns gc removes the namespace' });
      }
      if (rec && exists) {
        addRefs(rec);
        return { outcome: 'noop', detail: `reused: lsmns created ${ns} for this pod; references: ${owners.get(ns)!.refs.join(', ')}` };
      }
      if (!rec && exists) {
        throw new LsmnsError({ code: 'NamespaceNotOwned', exitCode: ExitCode.ApplyFailed, message: `AppArmor namespace ${ns} already exists and lsmns did not create it`, remedy: 'choose another lsmns.io/apparmor-namespace (or "auto"); lsmns never joins or removes a namespace it did not create' });
      }
      // Intent first: a marker that says "creating", so a crash between here and the mkdir is recoverable by GC.
      const fresh: OwnerRecord = {
        formatVersion: OWNER_FORMAT_VERSION, namespace: ns, podKey: plan.input.podKey, pod: plan.input.pod, sandboxId: plan.input.sandboxId,
        state: 'creating', refs: [], policy: null, createdAt: now().toISOString(), createdByPid: process.pid,
      };
      owners.put(fresh);
      try {
        await ctx.port.createNamespace(ns);
      } catch (e) {
        if (rec) owners.put(rec);
        else owners.delete(ns);
        throw e;
      }
      journal.push({ step, what: `removed namespace ${ns}`, undo: async () => {
        await ctx.port.removeNamespace(ns);
        owners.delete(ns);
      } });
      const ready: OwnerRecord = { ...fresh, state: 'ready', refs: [...new Set([...(rec?.refs ?? []), ...ctx.refs])].sort() };
      owners.put(ready);
      return { outcome: 'done', detail: `created ${ns} (${step.args.path}); references: ${ready.refs.join(', ')}` };
    }

    async function loadPolicy(step: Step): Promise<Omit<StepResult, 'id' | 'kind'>> {
      const src = policy!;
      const rec = owners.get(ns)!;
      const present = await ctx.port.listProfiles(ns);
      const wanted = (step.args.profiles as string[]) ?? [];
      if (rec.policy?.digest === src.digest && rec.policy.profiles.every((p) => present.includes(p))) {
        return { outcome: 'noop', detail: `policy ${src.ref} already loaded (${src.digest.slice(0, 19)}…)` };
      }
      const previous = rec.policy;
      const loaded = await ctx.port.loadPolicy(ns, src);
      owners.put({ ...owners.get(ns)!, policy: { ref: src.ref, digest: src.digest, profiles: loaded } });
      journal.push({ step, what: `policy ${src.ref} in ${ns}`, undo: async () => {
        // If this run created the namespace, its removal (undone next) takes the profiles with it.
        const cur = owners.get(ns);
        if (cur) owners.put({ ...cur, policy: previous });
      } });
      const missing = wanted.filter((p) => !loaded.includes(p));
      if (missing.length > 0) throw new LsmnsError({ code: 'PolicyInvalid', exitCode: ExitCode.ApplyFailed, message: `after loading ${src.ref}, profile ${missing.join(', ')} is not in ${ns}`, remedy: 'check the policy' });
      return { outcome: 'done', detail: `loaded ${src.ref} (${src.digest.slice(0, 19)}…) into ${ns}: ${loaded.join(', ')}` };
    }

    async function transition(step: Step): Promise<Omit<StepResult, 'id' | 'kind'>> {
      const a = step.args as { container: string; label: string };
      if (!ctx.simulateRuntime) return { outcome: 'skipped', detail: `the runtime applies ${a.label} from ${step.args.via}` };
      const running = owners.get(ns)?.tasks?.find((t) => t.container === a.container);
      if (running) {
        const label = await ctx.port.readTaskLabel(running.pid).catch(() => null);
        if (label !== null) {
          result.tasks.push({ container: a.container, pid: running.pid, label });
          return { outcome: 'noop', detail: `container ${a.container} already runs as pid ${running.pid} (${label})` };
        }
      }
      const display = plan.steps.find((s) => s.kind === 'setDisplayLsm' && s.status === 'planned') ? 'apparmor' : undefined;
      const t: SpawnedTask = await ctx.port.spawnTask({ comm: a.container, execLabel: a.label, display, container: `${plan.input.podKey}/${a.container}` });
      result.tasks.push({ container: a.container, pid: t.pid, label: t.label });
      const rec = owners.get(ns)!;
      owners.put({ ...rec, tasks: [...(rec.tasks ?? []).filter((x) => x.container !== a.container), { container: a.container, pid: t.pid }] });
      journal.push({ step, what: `ended task ${t.pid} (${a.container})`, undo: () => ctx.port.endTask(t.pid) });
      return { outcome: 'done', detail: `container ${a.container}: pid ${t.pid} runs as ${t.label}` };
    }

    async function removeNamespace(): Promise<Omit<StepResult, 'id' | 'kind'>> {
      const rec = owners.get(ns);
      if (!rec || rec.podKey !== plan.input.podKey) {
        return { outcome: 'not-mine', detail: `lsmns holds no marker for ${ns} for this pod; a namespace lsmns did not create is never removed` };
      }
      const refs = rec.refs.filter((r) => !ctx.refs.includes(r));
      if (refs.length > 0) {
        owners.put({ ...rec, refs });
        return { outcome: 'noop', detail: `${refs.length} reference${refs.length === 1 ? '' : 's'} remain (${refs.join(', ')}); ${ns} stays` };
      }
      // Tasks that a simulated runtime started for this pod end with it.
      for (const t of rec.tasks ?? []) await ctx.port.endTask(t.pid).catch(() => {});
      try {
        await ctx.port.removeNamespace(ns);
      } catch (e) {
        if (toLsmnsError(e).errno !== 'ENOENT') throw e;
      }
      owners.delete(ns);
      return { outcome: 'done', detail: `removed ${ns}: its last reference is gone` };
    }

    async function verify(): Promise<void> {
      if (!stageSteps.some((s) => s.kind === 'createNamespace' && mine(s))) return;
      if (!(await ctx.port.namespaceExists(ns))) throw new LsmnsError({ code: 'VerifyFailed', exitCode: ExitCode.ApplyFailed, message: `namespace ${ns} is not there after it was created`, remedy: 'check the kernel log' });
      if (policy) {
        const present = await ctx.port.listProfiles(ns);
        const want = (policyStep!.args.profiles as string[]) ?? [];
        const missing = want.filter((p) => !present.includes(p));
        if (missing.length) throw new LsmnsError({ code: 'VerifyFailed', exitCode: ExitCode.ApplyFailed, message: `profiles ${missing.join(', ')} are not listed in ${ns} after the load`, remedy: 'check the policy and the kernel log' });
      }
    }
  });
}
