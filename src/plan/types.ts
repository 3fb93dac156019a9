// The Plan: the only interface between deciding (planner) and doing (executor). Plain, versioned data; each
// step kind carries its own typed arguments, so the executor, the shim and the renderers read them without casts.

import type { Problem } from '../errors.js';
import type { FormatVersion } from '../format.js';
import type { DisplayInterface } from '../kernel/facts.js';
import type { LsmnsSpec } from '../schema/annotations.js';

/** Closed set of step kinds, in the order they run (SPEC §2). */
export const STEP_KINDS = ['checkNode', 'createNamespace', 'loadPolicy', 'setDisplayLsm', 'transitionRootTask', 'removeNamespace'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export type Realizer = 'hook' | 'shim' | 'webhook' | 'kernel';
/** When a step runs: at admission (webhook), at the runtime's create (shim), at createRuntime (hook), at poststop. */
export type Stage = 'admission' | 'create' | 'createRuntime' | 'poststop';
export type StepAction = 'check' | 'create' | 'load' | 'set' | 'transition' | 'remove';

export interface Undo {
  kind: 'removeNamespace' | 'none';
  /** When the undo applies; lsmns never undoes what this run did not do. */
  note: string;
}

/**
 * How the label reaches the container (SPEC §3), one word everywhere (plan, webhook, controller flag and the
 * namespace label): the lsmns shim writes config.json (the webhook routes the pod to the lsmns RuntimeClass),
 * or the webhook writes the pod's own AppArmor field.
 */
export type Delivery = 'shim' | 'field';
export const DELIVERIES: readonly Delivery[] = ['shim', 'field'];

/** A policy as the pod names it: resolved to a file by the executor's policy store, never by the planner. */
export interface PolicyRef {
  /** NAME or cluster/NAME, as in lsmns.io/apparmor-policy. */
  policy: string;
  scope: 'pod-namespace' | 'cluster';
  /** The pod's Kubernetes namespace (the store's folder for pod-namespace policies), or null outside Kubernetes. */
  podNamespace: string | null;
}

export interface CheckNodeArgs {
  securityfs: true;
  apparmor: true;
  policyNamespaces: true;
  stacking: boolean;
  policyAdmin: true;
  level: number;
  maxDepth: number;
}
export interface CreateNamespaceArgs { namespace: string; path: string; owner: string }
export interface LoadPolicyArgs extends PolicyRef { namespace: string; profiles: string[] }
export type SetDisplayLsmArgs = { lsm: 'apparmor'; interface: DisplayInterface } | Record<string, never>;
export type TransitionArgs =
  | { container: string; role: 'app'; profile: string; hostProfile: string | null; label: string; via: string }
  | { container: string; role: 'sandbox' };
export interface RemoveNamespaceArgs { namespace: string; refCounted: true; owner: string }

interface StepOf<K extends StepKind, A> {
  id: number;
  kind: K;
  action: StepAction;
  status: 'planned' | 'skipped';
  reason: string;
  stage: Stage;
  realizedBy: Realizer;
  args: A;
  undo: Undo | null;
}

export type CheckNodeStep = StepOf<'checkNode', CheckNodeArgs>;
export type CreateNamespaceStep = StepOf<'createNamespace', CreateNamespaceArgs>;
export type LoadPolicyStep = StepOf<'loadPolicy', LoadPolicyArgs>;
export type SetDisplayLsmStep = StepOf<'setDisplayLsm', SetDisplayLsmArgs>;
export type TransitionRootTaskStep = StepOf<'transitionRootTask', TransitionArgs>;
export type RemoveNamespaceStep = StepOf<'removeNamespace', RemoveNamespaceArgs>;
export type Step = CheckNodeStep | CreateNamespaceStep | LoadPolicyStep | SetDisplayLsmStep | TransitionRootTaskStep | RemoveNamespaceStep;

/** A step with its arguments, before the planner numbers it. */
export type StepDraft = Step extends infer S ? (S extends Step ? Omit<S, 'id'> : never) : never;

/** The planned display step's interface, or null (the shim and the executor read it the same way). */
export function displayInterfaceOf(steps: readonly Step[]): DisplayInterface | null {
  const s = steps.find((x): x is SetDisplayLsmStep => x.kind === 'setDisplayLsm' && x.status === 'planned');
  return s && 'interface' in s.args ? s.args.interface : null;
}

/** A rule in a policy file, as a conflict names it. */
export interface PolicyRuleRef { profile: string; file: string; line: number; rule: string }

/** One tenant rule that loses permissions under a container's host bound (the analysis fills these in). */
export interface PlanConflict {
  container: string;
  hostProfile: string;
  kind: string;
  tenant: PolicyRuleRef;
  /** The host rule that denies it; null when the host profile simply does not grant it. */
  host: PolicyRuleRef | null;
  reason: 'denied' | 'not-granted';
  lost: string[];
  example: string | null;
  effect: string;
}

export interface Blocker {
  code: string;
  message: string;
  remedy: string;
}

export interface Warning {
  code: string;
  message: string;
}

export interface ContainerPlan {
  name: string;
  role: 'app' | 'sandbox';
  profile: string | null;
  hostProfile: string | null;
  hostProfileFrom: string | null;
  /** The label the container's root task gets, or null when it is not moved (the sandbox). */
  label: string | null;
}

export type Outcome = 'ready' | 'noop' | 'invalid' | 'infeasible';

export interface Plan {
  formatVersion: FormatVersion;
  outcome: Outcome;
  input: {
    source: { kind: string; ref: string };
    pod: { name: string | null; namespace: string | null; uid: string | null };
    podKey: string;
    sandboxId: string | null;
    containerId: string | null;
    annotations: Record<string, string>;
    spec: LsmnsSpec | null;
    delivery: Delivery;
    node: { source: string; kernel: string; lsms: string[] };
  };
  namespace: { name: string; derivedFrom: string | null } | null;
  containers: ContainerPlan[];
  steps: Step[];
  warnings: Warning[];
  /** SPEC §6: tenant rules the host bound denies or does not grant (advice: the plan stays feasible). */
  conflicts: PlanConflict[];
  feasible: boolean;
  blockers: Blocker[];
  /** Input problems (exit 2): annotations, container profiles, identity. */
  problems: Problem[];
}
