// The executor: applies a Plan's steps through the kernel port, in order. Checks come first and change
// nothing; then every effect is journalled with its undo, and when a step fails the journal is unwound in
// reverse, so the node ends as it was before the run and nothing this run did not create is touched (SPEC §2).

import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';
import { FORMAT_VERSION, type FormatVersion } from '../format.js';
import { formatProblem } from '../schema/annotations.js';
import { feasibility } from '../plan/planner.js';
import { displayInterfaceOf, type CreateNamespaceStep, type LoadPolicyStep, type Plan, type Realizer, type Step, type TransitionRootTaskStep } from '../plan/types.js';
import type { KernelPort } from '../kernel/port.js';
import type { RuntimePort } from '../kernel/runtime.js';
import { lintedProfiles } from '../policy/lint-cache.js';
import type { PolicySource, PolicyStore } from '../policy/store.js';
import { OwnershipStore, liveRefs, provesOwnership, removeOwned, type OwnerRecord } from './ownership.js';
import { crashPoint } from './crash.js';
import { holderOf, type Holder } from '../liveness.js';

export type ApplyStage = 'create' | 'poststop';

/** What says a caller has gone; an AbortSignal is one. Read before each effect (a timer may not have fired yet). */
export interface Cancel {
  readonly aborted: boolean;
}

export interface StepResult {
  id: number;
  kind: Step['kind'];
  outcome: 'done' | 'noop' | 'skipped' | 'not-mine' | 'undone';
  detail: string;
}

export interface ApplyResult {
  formatVersion: FormatVersion;
  stage: ApplyStage;
  podKey: string;
  namespace: string | null;
  refs: string[];
  results: StepResult[];
  tasks: { container: string; pid: number; label: string }[];
}

export interface ApplyContext {
  port: KernelPort;
  /** How labels reach containers; a caller that acts for the shim with no runtime (`lsmns apply`) plays it. */
  runtime: RuntimePort;
  /** Where loadPolicy's reference is read. */
  policies: PolicyStore;
  stateDir: string;
  stage: ApplyStage;
  /** The references this run takes (create) or releases (poststop): container ids, or container names. */
  refs: string[];
  /** Which realizers this caller acts for. The hook is ["hook"]; `lsmns apply` is all of them. */
  actors: Realizer[];
  policyWaitMs?: number;
  /** The container init's pid (the OCI state's, at createRuntime): recorded with its start time as the holder. */
  holderPid?: number;
  /** How long to wait for the pod's lock (default LOCK_WAIT_MS). */
  lockWaitMs?: number;
  /** Aborted when the caller has gone (a served client that hung up, or its deadline passed): no effect is started after that. */
  signal?: Cancel;
  now?: () => Date;
  log?: (event: Record<string, unknown>) => void;
}

type Outcome = Omit<StepResult, 'id' | 'kind'>;

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

/** Reads and lints the policy before anything changes: a missing or broken policy fails with nothing to undo. */
async function preflightPolicy(step: LoadPolicyStep, ctx: ApplyContext): Promise<PolicySource> {
  const a = step.args;
  const src = await ctx.policies.read(a, { waitMs: ctx.policyWaitMs ?? 0 });
  // As a tenant's: a profile name, change_profile or exec transition that addresses a namespace is refused. The
  // verdict is kept per digest, so only the first start with a policy (or the agent's sync) parses it.
  const profiles = await lintedProfiles(src, { stateDir: ctx.stateDir, includeDirs: ctx.policies.includeDirs });
  const defined = new Set(profiles.map((p) => p.name));
  const missing = a.profiles.filter((p) => !defined.has(p));
  if (missing.length > 0) {
    throw new LsmnsError({
      code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput,
      message: `policy ${a.policy} (${src.path}) does not define profile ${missing.join(', ')} named by lsmns.io/apparmor-profile or container.lsmns.io/; it defines ${[...defined].join(', ')}`,
      remedy: 'name a profile the policy defines, or add it to the policy',
    });
  }
  return { ...src, profiles };
}

export async function applyPlan(plan: Plan, ctx: ApplyContext): Promise<ApplyResult> {
  assertApplicable(plan);
  const ns = plan.namespace!.name;
  const stageSteps = plan.steps.filter((s) => (ctx.stage === 'poststop' ? s.stage === 'poststop' : s.stage === 'createRuntime' || s.stage === 'create'));
  const mine = (s: Step) => ctx.actors.includes(s.realizedBy);
  const result: ApplyResult = { formatVersion: FORMAT_VERSION, stage: ctx.stage, podKey: plan.input.podKey, namespace: ns, refs: ctx.refs, results: [], tasks: [] };
  const log = ctx.log ?? (() => {});
  const record = (step: Step, r: Outcome) => {
    result.results.push({ id: step.id, kind: step.kind, ...r });
    if (r.outcome !== 'skipped') log({ event: 'step', stage: ctx.stage, id: step.id, kind: step.kind, ...r, namespace: ns, podKey: plan.input.podKey });
  };
  const skip = (step: Step): Outcome | null => {
    if (step.status === 'skipped') return { outcome: 'skipped', detail: step.reason };
    if (!mine(step)) return { outcome: 'skipped', detail: `realized by the ${step.realizedBy}, not by this ${ctx.actors.join('/')}` };
    return null;
  };

  // Checks first, outside the lock and before any effect: the node as it is now (checkNode, the one place where
  // the planner's feasibility is checked again at apply time), then the policy text.
  const effects: Step[] = [];
  for (const step of stageSteps) {
    if (step.kind !== 'checkNode') {
      effects.push(step);
      continue;
    }
    const skipped = skip(step);
    if (skipped) {
      record(step, skipped);
      continue;
    }
    let facts;
    try {
      facts = await ctx.port.probe();
    } catch (e) {
      throw toLsmnsError(e).wrap(`step ${step.id} checkNode`);
    }
    const blockers = feasibility(plan.input.spec!, facts);
    if (blockers.length > 0) {
      assertApplicable({ ...plan, outcome: 'infeasible', blockers });
    }
    record(step, { outcome: 'done', detail: `AppArmor active (${facts.lsms.join(',')}), policy namespaces, policy admin; level ${facts.apparmor.nsLevel + 1}` });
  }
  const policyStep = effects.find((s): s is LoadPolicyStep => s.kind === 'loadPolicy' && s.status === 'planned' && mine(s));
  const policy = policyStep ? await preflightPolicy(policyStep, ctx) : null;
  const owners = new OwnershipStore({ stateDir: ctx.stateDir, backend: ctx.port.describe().backend, bootId: await ctx.port.bootId() });
  const now = ctx.now ?? (() => new Date());

  return owners.withLock(ns, async () => {
    const journal: JournalEntry[] = [];
    let current: Step | null = null;
    try {
      for (const step of effects) {
        current = step;
        if (ctx.signal?.aborted) {
          throw new LsmnsError({ code: 'ClientGone', exitCode: ExitCode.ApplyFailed, message: 'the caller has gone (its timeout passed); lsmns does not finish an effect no one waits for', remedy: 'the runtime reports the start failed; retry it' });
        }
        const r = skip(step) ?? await runStep(step);
        record(step, r);
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

    async function runStep(step: Step): Promise<Outcome> {
      switch (step.kind) {
        case 'checkNode':
          return { outcome: 'done', detail: 'checked before the effects' };
        case 'createNamespace':
          return createNamespace(step);
        case 'loadPolicy':
          return loadPolicy(step);
        case 'setDisplayLsm':
          // Only a caller that plays the runtime gets here (the shim sets it on itself before it runs the runtime).
          return { outcome: 'done', detail: 'the container\'s init sets its display LSM to apparmor before it applies its label' };
        case 'transitionRootTask':
          return transition(step);
        case 'removeNamespace':
          return removeNamespace();
      }
    }

    async function createNamespace(step: CreateNamespaceStep): Promise<Outcome> {
      let rec = owners.get(ns);
      let id = await ctx.port.namespaceIdentity(ns);
      // Converge what an earlier run left in the journal (we hold the lock, so no other run is under way):
      // a "creating" entry proves nothing, and an entry whose namespace is gone or is another one is stale.
      if (rec && !provesOwnership(rec, id)) {
        owners.delete(ns);
        rec = null;
      }
      // A crash before an rmdir that lsmns had decided on, or a pod whose every holder is gone: finish the removal.
      const healed = rec && (rec.state === 'removing' || (rec.podKey !== plan.input.podKey && liveRefs(rec).length === 0)) ? rec : null;
      if (healed) {
        await removeOwned(owners, ctx.port, healed);
        log({ event: 'healed', namespace: ns, podKey: healed.podKey, why: healed.state === 'removing' ? 'an earlier removal was cut short' : 'every container that held it is gone' });
        rec = null;
        id = await ctx.port.namespaceIdentity(ns);
      }
      const holders = (r: OwnerRecord, refs: string[]) => {
        const h: Record<string, Holder> = {};
        for (const [k, v] of Object.entries(r.holders ?? {})) if (refs.includes(k)) h[k] = v;
        const mine = holderOf(ctx.holderPid);
        if (mine) for (const x of ctx.refs) if (refs.includes(x)) h[x] = mine;
        return h;
      };
      if (rec && rec.podKey !== plan.input.podKey) {
        throw new LsmnsError({ code: 'NamespaceOwnedByOther', exitCode: ExitCode.ApplyFailed, message: `AppArmor namespace ${ns} belongs to another pod (${rec.podKey}), whose containers ${liveRefs(rec).join(', ')} still run; lsmns never joins it silently`, remedy: 'give this pod its own lsmns.io/apparmor-namespace (or "auto"); once that pod is gone, the namespace is released' });
      }
      if (rec) {
        const before = rec;
        const kept = liveRefs(rec);
        const added = ctx.refs.filter((x) => !kept.includes(x));
        const refs = [...kept, ...added].sort();
        owners.put({ ...rec, refs, holders: holders(rec, refs) });
        crashPoint('refs');
        if (added.length > 0) {
          journal.push({ step, what: `released reference ${added.join(', ')}`, undo: async () => {
            const cur = owners.get(ns);
            if (cur) owners.put({ ...cur, refs: cur.refs.filter((x) => !added.includes(x)), holders: before.holders ?? {} });
          } });
        }
        return { outcome: 'noop', detail: `reused: lsmns created ${ns} for this pod; references: ${refs.join(', ')}` };
      }
      if (id !== null) {
        throw new LsmnsError({ code: 'NamespaceNotOwned', exitCode: ExitCode.ApplyFailed, message: `AppArmor namespace ${ns} already exists and lsmns did not create it (no completed record of this boot names it)`, remedy: 'choose another lsmns.io/apparmor-namespace (or "auto"); lsmns never joins or removes a namespace it did not create' });
      }
      // Intent first: the journal entry "creating", so that a crash between here and the mkdir leaves a record.
      const fresh: OwnerRecord = {
        formatVersion: FORMAT_VERSION, namespace: ns, podKey: plan.input.podKey, pod: plan.input.pod, sandboxId: plan.input.sandboxId,
        state: 'creating', identity: null, refs: [], holders: {}, policy: null, createdAt: now().toISOString(), createdByPid: process.pid,
      };
      owners.put(fresh);
      crashPoint('marker-creating');
      try {
        await ctx.port.createNamespace(ns);
      } catch (e) {
        owners.delete(ns);
        throw e;
      }
      crashPoint('mkdir');
      const identity = await ctx.port.namespaceIdentity(ns);
      if (identity === null) {
        await ctx.port.removeNamespace(ns).catch(() => {});
        owners.delete(ns);
        throw new LsmnsError({ code: 'VerifyFailed', exitCode: ExitCode.ApplyFailed, message: `namespace ${ns} is not there right after its mkdir`, remedy: 'check the kernel log' });
      }
      const refs = [...ctx.refs].sort();
      const ready: OwnerRecord = { ...fresh, state: 'ready', identity, refs, holders: holders(fresh, refs) };
      owners.put(ready);
      crashPoint('marker-ready');
      journal.push({ step, what: `removed namespace ${ns}`, undo: async () => {
        const cur = owners.get(ns);
        if (cur) await removeOwned(owners, ctx.port, cur);
      } });
      return { outcome: 'done', detail: `created ${ns} (${step.args.path}); references: ${ready.refs.join(', ')}` };
    }

    async function loadPolicy(step: LoadPolicyStep): Promise<Outcome> {
      const src = policy!;
      const rec = owners.get(ns)!;
      const present = await ctx.port.listProfiles(ns);
      if (rec.policy?.digest === src.digest && rec.policy.profiles.every((p) => present.includes(p))) {
        return { outcome: 'noop', detail: `policy ${src.ref} already loaded (${src.digest.slice(0, 19)}…)` };
      }
      const previous = rec.policy;
      const loaded = await ctx.port.loadPolicy(ns, src);
      crashPoint('policy-load');
      owners.put({ ...owners.get(ns)!, policy: { ref: src.ref, digest: src.digest, profiles: loaded } });
      crashPoint('policy-marker');
      journal.push({ step, what: `policy ${src.ref} in ${ns}`, undo: async () => {
        // The marker's record goes back; the profiles go with the namespace if this run created it (undone next).
        const cur = owners.get(ns);
        if (cur) owners.put({ ...cur, policy: previous });
      } });
      const missing = step.args.profiles.filter((p) => !loaded.includes(p));
      if (missing.length > 0) throw new LsmnsError({ code: 'PolicyInvalid', exitCode: ExitCode.ApplyFailed, message: `after loading ${src.ref}, profile ${missing.join(', ')} is not in ${ns}`, remedy: 'check the policy' });
      return { outcome: 'done', detail: `loaded ${src.ref} (${src.digest.slice(0, 19)}…) into ${ns}: ${loaded.join(', ')}` };
    }

    /** Only a caller with no runtime acts for the shim here: it plays the runtime through the runtime port. */
    async function transition(step: TransitionRootTaskStep): Promise<Outcome> {
      const a = step.args;
      if (a.role !== 'app') return { outcome: 'skipped', detail: step.reason };
      const key = `${plan.input.podKey}/${a.container}`;
      const { task, fresh } = await ctx.runtime.play(key, { label: a.label, display: displayInterfaceOf(plan.steps) ? 'apparmor' : null, container: a.container });
      result.tasks.push({ container: a.container, pid: task.pid, label: task.label });
      if (!fresh) return { outcome: 'noop', detail: `container ${a.container} already runs as pid ${task.pid} (${task.label})` };
      journal.push({ step, what: `ended task ${task.pid} (${a.container})`, undo: () => ctx.runtime.unplay(key) });
      return { outcome: 'done', detail: `container ${a.container}: pid ${task.pid} runs as ${task.label}` };
    }

    async function removeNamespace(): Promise<Outcome> {
      // The tasks a caller with no runtime played for the containers it releases end first, as the runtime's would.
      if (plan.steps.some((s) => s.kind === 'transitionRootTask' && mine(s))) {
        for (const r of ctx.refs) await ctx.runtime.unplay(`${plan.input.podKey}/${r}`);
      }
      const rec = owners.get(ns);
      if (!rec || rec.podKey !== plan.input.podKey || rec.state === 'creating') {
        // A "creating" entry under this lock is a crash's left-over: it proves nothing. It stays for GC, which
        // drops it and reports a namespace of that name as one nothing proves lsmns made.
        return { outcome: 'not-mine', detail: `lsmns holds no completed record of ${ns} for this pod${rec?.state === 'creating' ? ' (a crash cut its creation short; lsmns gc reports it)' : ''}; a namespace lsmns did not create is never removed` };
      }
      // References whose container is gone (a poststop that never ran) are dropped with this container's.
      const refs = liveRefs(rec).filter((r) => !ctx.refs.includes(r));
      if (refs.length > 0 && rec.state === 'ready') {
        owners.put({ ...rec, refs, holders: Object.fromEntries(Object.entries(rec.holders ?? {}).filter(([k]) => refs.includes(k))) });
        crashPoint('refs');
        return { outcome: 'noop', detail: `${refs.length} reference${refs.length === 1 ? '' : 's'} remain (${refs.join(', ')}); ${ns} stays` };
      }
      if (!(await removeOwned(owners, ctx.port, rec))) {
        return { outcome: 'not-mine', detail: `${ns} is not the namespace lsmns created (gone, or made again by someone else); only lsmns's record of it was dropped` };
      }
      return { outcome: 'done', detail: `removed ${ns}: its last reference is gone` };
    }

    async function verify(): Promise<void> {
      if (!effects.some((s) => s.kind === 'createNamespace' && mine(s))) return;
      if (!(await ctx.port.namespaceExists(ns))) throw new LsmnsError({ code: 'VerifyFailed', exitCode: ExitCode.ApplyFailed, message: `namespace ${ns} is not there after it was created`, remedy: 'check the kernel log' });
      if (policy && policyStep) {
        const present = await ctx.port.listProfiles(ns);
        const missing = policyStep.args.profiles.filter((p) => !present.includes(p));
        if (missing.length) throw new LsmnsError({ code: 'VerifyFailed', exitCode: ExitCode.ApplyFailed, message: `profiles ${missing.join(', ')} are not listed in ${ns} after the load`, remedy: 'check the policy and the kernel log' });
      }
    }
  }, ctx.lockWaitMs);
}
