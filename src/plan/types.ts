// The Plan: the only interface between deciding (planner) and doing (executor). Plain, versioned data.

import type { Problem } from '../errors.js';
import type { LsmnsSpec } from '../schema/annotations.js';

export const PLAN_FORMAT_VERSION = '1';

/** Closed set of step kinds, in the order they run (SPEC §2). */
export const STEP_KINDS = ['checkNode', 'createNamespace', 'loadPolicy', 'setDisplayLsm', 'transitionRootTask', 'removeNamespace'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export type Realizer = 'hook' | 'shim' | 'webhook' | 'kernel';
/** When a step runs: at admission (webhook), at the runtime's create (shim), at createRuntime (hook), at poststop. */
export type Stage = 'admission' | 'create' | 'createRuntime' | 'poststop';
export type StepAction = 'check' | 'create' | 'load' | 'set' | 'transition' | 'remove';

export interface Undo {
  kind: 'removeNamespace' | 'restorePolicy' | 'none';
  /** When the undo applies; lsmns never undoes what this run did not do. */
  note: string;
}

export interface Step {
  id: number;
  kind: StepKind;
  action: StepAction;
  status: 'planned' | 'skipped';
  reason: string;
  stage: Stage;
  realizedBy: Realizer;
  args: Record<string, unknown>;
  undo: Undo | null;
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
  formatVersion: typeof PLAN_FORMAT_VERSION;
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
  /** SPEC §6 conflict analysis (host profile denies what the tenant policy allows); empty until implemented. */
  conflicts: unknown[];
  feasible: boolean;
  blockers: Blocker[];
  /** Input problems (exit 2): annotations, container profiles, identity. */
  problems: Problem[];
}

/** How the label reaches the container (SPEC §3): the shim writes config.json, or the webhook sets the pod field. */
export type Delivery = 'shim' | 'field';
