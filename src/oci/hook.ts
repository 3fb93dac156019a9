// The hook logic, with two front doors: `lsmns hook` (one process per hook) and the node agent's socket.
// Both call runHook with a parsed OCI state, so results, errors and exit codes are the same.
// createRuntime (and its deprecated twin prestart) prepares the namespace and the policy; poststop releases
// this container's reference and removes the namespace with the last one. The label itself reaches the
// container through process.apparmorProfile (a hook cannot write another task's attr: EPERM).

import { closeSync, openSync, writeSync } from 'node:fs';
import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';
import { makeDirs } from '../fsutil.js';
import type { Backend } from '../kernel/factory.js';
import { plan } from '../plan/planner.js';
import type { Delivery, Plan } from '../plan/types.js';
import type { PolicyStore } from '../policy/store.js';
import { applyPlan, type ApplyContext, type ApplyResult, type ApplyStage, type Cancel } from '../apply/executor.js';
import { hasLsmnsAnnotations } from '../schema/keys.js';
import { escapeValue } from '../schema/names.js';
import { requestFromBundle } from './request.js';
import { readBundleConfig, type OciConfig, type OciState } from './spec.js';
import { HOOK_STAGES, type HookStage } from './gate.js';

export { HOOK_STAGES, type HookStage } from './gate.js';

export const DEFAULT_POLICY_WAIT_MS = 5_000;

/** --policy-wait, else LSMNS_POLICY_WAIT, else the default: whole milliseconds, capped at ten minutes. */
export function policyWaitOf(v: string | undefined, env: NodeJS.ProcessEnv): number {
  const raw = v ?? env.LSMNS_POLICY_WAIT;
  if (raw === undefined || raw === '') return DEFAULT_POLICY_WAIT_MS;
  if (!/^\d{1,6}$/.test(raw)) throw invalidInput('InvalidInput', `--policy-wait (LSMNS_POLICY_WAIT) ${JSON.stringify(raw)} is not a number of milliseconds`, 'give milliseconds, from 0 to 600000, e.g. --policy-wait 5000');
  return Math.min(Number(raw), 600_000);
}

export function parseStage(s: string | undefined): HookStage {
  if ((HOOK_STAGES as readonly string[]).includes(s ?? '')) return s as HookStage;
  throw invalidInput('InvalidInput', `unknown hook stage ${escapeValue(s ?? '(none)')}`, `use one of ${HOOK_STAGES.join(', ')} (the OCI hook that calls lsmns hook)`);
}

export interface HookDeps {
  backend: Backend;
  policies: PolicyStore;
  stateDir: string;
  policyWaitMs: number;
  delivery?: Delivery;
  /** The structured log (JSON lines); the standalone hook appends to <stateDir>/hook.log. */
  log?: (event: Record<string, unknown>) => void;
  /** The served caller's: aborted when the client has gone, so that no effect is completed for it. */
  signal?: Cancel;
  /** How long to wait for the pod's lock; by default by stage, inside the stage's hook timeout. */
  lockWaitMs?: number;
}

/** Lock waits of a standalone hook: createRuntime's timeout is 30 s (it may also wait for a policy), poststop's 10 s. */
export const LOCK_WAIT_BY_STAGE: Record<ApplyStage, number> = { create: 15_000, poststop: 6_000 };

export interface HookResult {
  stage: HookStage;
  containerId: string;
  /** skipped: no lsmns annotations; applied: create stage done; released: poststop done. */
  outcome: 'skipped' | 'applied' | 'released';
  podKey: string | null;
  namespace: string | null;
  result: ApplyResult | null;
}

function applyStageOf(stage: HookStage): ApplyStage {
  return stage === 'poststop' ? 'poststop' : 'create';
}

/**
 * Reads the bundle's config.json. At poststop the bundle may be gone already (runc and podman remove it on
 * delete, and a runtime may run poststop after that): the state carries the id and the annotations, which are
 * all a release needs, so poststop goes on from them; with no annotations either, there is nothing to release.
 */
function configOf(state: OciState, stage: HookStage): { config: OciConfig | null; from: 'bundle' | 'state' } {
  try {
    return { config: readBundleConfig(state.bundle).config, from: 'bundle' };
  } catch (e) {
    if (stage === 'poststop' && state.annotations) {
      return { config: hasLsmnsAnnotations(state.annotations) ? { annotations: state.annotations } : null, from: 'state' };
    }
    throw toLsmnsError(e).wrap(`container ${state.id}`);
  }
}

export async function runHook(stage: HookStage, state: OciState, deps: HookDeps): Promise<HookResult> {
  const skipped: HookResult = { stage, containerId: state.id, outcome: 'skipped', podKey: null, namespace: null, result: null };
  // runc, crun and podman copy config.json's annotations into the state: when they carry none of ours,
  // this container is not lsmns's business and the hook returns before any file or kernel work.
  if (state.annotations && !hasLsmnsAnnotations(state.annotations)) return skipped;
  const { config, from } = configOf(state, stage);
  if (!config || !hasLsmnsAnnotations({ ...state.annotations, ...config.annotations })) return skipped;

  const ref = from === 'bundle' ? `${state.bundle}/config.json (container ${state.id})` : `the OCI state of container ${state.id} (its bundle is gone)`;
  const request = requestFromBundle(config, { kind: 'state', ref }, state, { delivery: deps.delivery });
  const { kernel, runtime } = deps.backend;
  const facts = await kernel.probe();
  const p: Plan = plan(request, facts);
  const log = deps.log ?? (() => {});
  const base = { stage, container: state.id, podKey: p.input.podKey, namespace: p.namespace?.name ?? null };
  if (p.outcome === 'noop') return { ...skipped, podKey: p.input.podKey };
  const ctx: ApplyContext = {
    port: kernel, runtime, policies: deps.policies, stateDir: deps.stateDir, stage: applyStageOf(stage), refs: [state.id], actors: ['hook'],
    policyWaitMs: stage === 'poststop' ? 0 : deps.policyWaitMs, log: (e) => log({ ...base, ...e }),
    lockWaitMs: deps.lockWaitMs ?? LOCK_WAIT_BY_STAGE[applyStageOf(stage)],
    ...(stage !== 'poststop' && state.pid ? { holderPid: state.pid } : {}), ...(deps.signal ? { signal: deps.signal } : {}),
  };
  const container = { dir: state.bundle, containerId: state.id };
  try {
    // The container's init is gone before its reference is released.
    if (stage === 'poststop') await runtime.stopped(container);
    const result = await applyPlan(p, ctx);
    if (stage !== 'poststop' && deps.signal?.aborted) {
      // The caller gave up while the last effect ran: give the reference back, as a failed start would.
      await applyPlan(p, { ...ctx, stage: 'poststop', policyWaitMs: 0, signal: undefined, log: undefined }).catch(() => {});
      throw new LsmnsError({ code: 'ClientGone', exitCode: ExitCode.ApplyFailed, message: 'the caller gave up before its answer; what this call did was undone', remedy: 'the runtime reports the start failed; retry it' });
    }
    if (stage !== 'poststop') {
      let task;
      try {
        task = await runtime.starting({ ...container, ...(state.pid ? { initPid: state.pid } : {}) });
      } catch (e) {
        // The container never started: give back the reference this run took, as a failed start would.
        await applyPlan(p, { ...ctx, stage: 'poststop', policyWaitMs: 0, log: undefined }).catch(() => {});
        throw e;
      }
      if (task) log({ ...base, event: 'runtime-init', pid: task.pid, label: task.label });
    }
    log({ ...base, event: 'done', results: result.results.map((r) => `${r.kind}:${r.outcome}`) });
    return { stage, containerId: state.id, outcome: stage === 'poststop' ? 'released' : 'applied', podKey: p.input.podKey, namespace: base.namespace, result };
  } catch (e) {
    const err = toLsmnsError(e);
    log({ ...base, event: 'error', ...err.toJSON() });
    throw err;
  }
}

export type FileLog = ((event: Record<string, unknown>) => void) & { close(): void };

/**
 * The structured log file of the hooks: one JSON line per event, appended (O_APPEND keeps lines whole). The
 * file is opened once, at the first event, and kept until close(): a create logs four or five events, and an
 * open per line costs the hook.
 */
export function fileLog(stateDir: string, front: string): FileLog {
  const file = `${stateDir.replace(/\/+$/, '')}/hook.log`;
  let fd: number | null = null;
  const log = (event: Record<string, unknown>) => {
    try {
      if (fd === null) {
        makeDirs(stateDir, 0o700);
        fd = openSync(file, 'a', 0o600);
      }
      writeSync(fd, `${JSON.stringify({ time: new Date().toISOString(), front, pid: process.pid, ...event })}\n`);
    } catch {
      // Logging never decides a container start; stderr still carries the reason.
    }
  };
  return Object.assign(log, {
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  });
}

/** The one line a runtime shows for a failed hook: what, where, and the remedy (SPEC §3: fail closed). */
export function hookErrorLine(stage: HookStage | string, e: unknown): string {
  return toLsmnsError(e).oneLine(`lsmns hook ${stage}`);
}

export function hookExitCode(e: unknown): number {
  const code = toLsmnsError(e).exitCode;
  return code === ExitCode.Ok ? ExitCode.Internal : code;
}
