// The fault table of issue 16, one iteration for both places that run it: the sim (faults.test.ts, in-process)
// and securityfs on real kernels (test/qemu/guest/faults.ts, inside the qemu guest). Every step with a kernel
// call, of every golden plan that is ready to apply, fails with every errno; a policy load also fails after the
// kernel took the write, as a write cut short would.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ApplyStage } from '../../src/apply/executor.js';
import type { KernelPort } from '../../src/kernel/port.js';
import type { RuntimePort } from '../../src/kernel/runtime.js';
import { planInputs } from '../../src/run/plan.js';
import { policyPath } from '../../src/policy/store.js';
import type { Plan, Realizer, Step } from '../../src/plan/types.js';
import { PLANS_DIR, caseArgs, caseFacts, caseNames } from '../plan/golden-cases.js';
import type { Fault } from './fault-port.js';
import { LsmnsError } from '../../src/errors.js';

export const ERRNOS = ['EIO', 'EACCES', 'ENOSPC', 'EEXIST', 'ENOENT', 'EBUSY'] as const;

/** The port call that carries each step's effect. */
export const OP_OF: Partial<Record<Step['kind'], keyof KernelPort>> = {
  checkNode: 'probe', createNamespace: 'createNamespace', loadPolicy: 'loadPolicy', transitionRootTask: 'spawnTask', removeNamespace: 'removeNamespace',
};

/** A run acts for every realizer (as `lsmns apply` does), so that every step's kernel call is made. */
export const ACTORS: Realizer[] = ['hook', 'shim', 'webhook', 'kernel'];

/**
 * The profile every policy and host profile of the table holds: it compiles with apparmor_parser and allows all
 * files, and it lets an unconfined caller's SIGKILL in (AppArmor mediates signal receipt), so that a task the run
 * started can be ended and its namespace removed on a real kernel.
 */
export const PROFILE = (name: string) => `profile ${name} flags=(attach_disconnected) {\n  /** mrwlkix,\n  signal (receive) peer=unconfined,\n}\n`;

export async function readyPlans(name: string): Promise<Plan[]> {
  const plans = await planInputs({ pod: join(PLANS_DIR, name, 'pod.yaml'), readStdin: async () => '' }, caseFacts(name), { delivery: caseArgs(name).delivery ?? 'shim' });
  return plans.filter((p) => p.outcome === 'ready');
}

/** The host profiles a plan's labels name (bounded-host-profile): a node has them in its root namespace. */
export function hostProfilesOf(plan: Plan): string[] {
  return [...new Set(plan.steps.flatMap((s) => (s.kind === 'transitionRootTask' && s.args.role === 'app' && s.args.hostProfile ? [s.args.hostProfile] : [])))];
}

/** Writes the policies a plan's loadPolicy steps name into policyDir, where a FilePolicyStore finds them. */
export function writePolicies(plan: Plan, policyDir: string): void {
  for (const s of plan.steps) {
    if (s.kind !== 'loadPolicy') continue;
    const f = policyPath(s.args, policyDir);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, s.args.profiles.map(PROFILE).join(''));
  }
}

export interface FaultSite { name: string; plan: Plan; stage: ApplyStage; step: Step; op: keyof KernelPort; nth: number }

/** Every (case, stage, step) with a kernel call: what the table in docs/reliability.md counts. */
export async function faultSites(): Promise<FaultSite[]> {
  const out: FaultSite[] = [];
  for (const name of caseNames()) {
    for (const plan of await readyPlans(name)) {
      const seen = new Map<string, number>();
      for (const step of plan.steps) {
        const op = OP_OF[step.kind];
        if (!op || step.status !== 'planned') continue;
        if (step.kind === 'transitionRootTask' && (step.realizedBy === 'webhook' || step.args.role !== 'app')) continue;
        const nth = (seen.get(op) ?? 0) + 1;
        seen.set(op, nth);
        out.push({ name, plan, stage: step.stage === 'poststop' ? 'poststop' : 'create', step, op, nth });
      }
    }
  }
  return out;
}

export interface FaultRun extends FaultSite { fault: Fault; what: string }

/** Every site × every errno (× before/after the kernel took it, for a policy load): one run each. */
export async function faultRuns(): Promise<FaultRun[]> {
  const out: FaultRun[] = [];
  for (const site of await faultSites()) {
    const whens: Fault['when'][] = site.op === 'loadPolicy' ? ['before', 'after'] : ['before'];
    for (const errno of ERRNOS) {
      for (const when of whens) out.push({ ...site, fault: { op: site.op, nth: site.nth, errno, when }, what: `${site.name} step ${site.step.id} ${site.step.kind} ${errno} ${when}` });
    }
  }
  return out;
}

/** What is wrong with how a faulty run failed (empty when it failed as it must: exit 4, naming the step, all undone). */
export function failureProblems(run: FaultSite, e: Failure | null): string[] {
  if (!e) return ['the run did not fail'];
  const p: string[] = [];
  if (!e.lsmnsError) p.push(`not an LsmnsError: ${e.message}`);
  if (e.exitCode !== 4) p.push(`exit ${e.exitCode}, not 4`);
  if (!new RegExp(`^step ${run.step.id} ${run.step.kind}\\b`).test(e.message)) p.push(`does not name step ${run.step.id} ${run.step.kind}`);
  if (/could NOT undo/.test(e.message)) p.push('an undo failed');
  return p;
}

/** How a run failed, as data that can cross from the guest to the host; null when it did not fail. */
export async function failureOf(run: Promise<unknown>): Promise<Failure | null> {
  try {
    await run;
    return null;
  } catch (e) {
    const err = e as LsmnsError;
    return { lsmnsError: e instanceof LsmnsError, exitCode: err?.exitCode, code: err?.code, message: String(err?.message ?? e) };
  }
}

export interface Failure { lsmnsError: boolean; exitCode?: number; code?: string; message: string }

/** The ownership markers of a state dir, each with its content: a faulty run leaves them as they were. */
export function markers(stateDir: string): Record<string, string> {
  const root = join(stateDir, 'owners');
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const d of readdirSync(root)) for (const f of readdirSync(join(root, d))) out[`${d}/${f}`] = readFileSync(join(root, d, f), 'utf8');
  return out;
}

/**
 * Before a poststop, the pod's containers have exited, as they have when a runtime runs its poststop hooks: the
 * tasks the create played for them end here, so that the snapshot a faulty poststop is held to has none of them.
 */
export async function containersExit(plan: Plan, runtime: RuntimePort, refs: string[]): Promise<void> {
  for (const r of refs) await runtime.unplay(`${plan.input.podKey}/${r}`);
}
