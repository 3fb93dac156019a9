// The runtime shim's work on a bundle before `create`/`run` (SPEC §3): plan from config.json's annotations,
// write the planned label into process.apparmorProfile, add lsmns's own createRuntime and poststop hooks, and
// say whether the display LSM must be set on the runtime process. Shared by `lsmns runtime` (standalone) and
// the agent's /v1/shim/prepare (served). Hostile input is refused before anything is written.

import { accessSync, constants, readdirSync, rmSync, statSync } from 'node:fs';
import { atomicTempWriter, writeFileAtomic } from '../fsutil.js';
import { basename, dirname, resolve } from 'node:path';
import { ENV, type CommonOptions } from '../config.js';
import { invalidInput } from '../errors.js';
import type { Backend } from '../kernel/factory.js';
import type { DisplayInterface } from '../kernel/facts.js';
import type { ConfigDoc, RuntimeDescription } from '../kernel/runtime.js';
import { assertApplicable } from '../apply/executor.js';
import { crashPoint } from '../apply/crash.js';
import { procStartTime } from '../liveness.js';
import { plan } from '../plan/planner.js';
import { displayInterfaceOf, type Plan, type TransitionRootTaskStep } from '../plan/types.js';
import { hasLsmnsAnnotations } from '../schema/keys.js';
import { escapeValue } from '../schema/names.js';
import { requestFromBundle } from './request.js';
import { readBundleConfig, type OciHook, type OciState } from './spec.js';

/** The hooks the shim adds; prestart counts as createRuntime when it is already there (its deprecated twin). */
export const SHIM_HOOK_STAGES = ['createRuntime', 'poststop'] as const;
export type ShimHookStage = (typeof SHIM_HOOK_STAGES)[number];

/** Bounded hook timeouts (seconds): createRuntime may wait --policy-wait for a late policy. */
export const HOOK_TIMEOUT_S: Record<ShimHookStage, number> = { createRuntime: 30, poststop: 10 };

/** Hooks run with only the env their entry names: give them a PATH that finds node, socat and the runtimes. */
export function hookPath(): string {
  const dirs = [dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return [...new Set(dirs)].join(':');
}

export interface HookCommand {
  /** standalone: `lsmns hook <stage>` in a new process; served: the thin client that calls the agent. */
  mode: 'standalone' | 'served';
  /** Absolute path of the lsmns CLI (bin/lsmns.cjs or a wrapper) or of lsmns-hook-client. */
  bin: string;
}

export interface PrepareOptions {
  backend: Backend;
  options: CommonOptions;
  hook: HookCommand;
  /** The container id from the runtime's arguments: it names an "auto" namespace outside Kubernetes. */
  containerId?: string;
  /** LSMNS_POLICY_WAIT for the added hooks, when it is not the default. */
  policyWaitMs?: number;
}

export interface PrepareResult {
  /** skipped: no lsmns annotations, nothing touched; noop: annotations with nothing to do; prepared: written. */
  outcome: 'skipped' | 'noop' | 'prepared';
  bundle: string;
  config: string;
  plan: Plan | null;
  /** The label the container's root task gets (null for the pod sandbox, which keeps its profile). */
  label: string | null;
  /** Where the label went: config.json's process.apparmorProfile, or the sim's played init (the runtime port says). */
  labelTo: RuntimeDescription['labelTo'] | null;
  hooksAdded: ShimHookStage[];
  /** Set on the shim's own process before it runs the runtime (the container init inherits it), or null. */
  displayLsm: { lsm: 'apparmor'; interface: DisplayInterface } | null;
  /** True when config.json was rewritten. */
  changed: boolean;
}

/** A bundle argument is hostile input: absolute after resolving, no control characters, a directory. */
export function checkBundleDir(dir: string, cwd = process.cwd()): string {
  if (dir === '' || /[\0\n\r]/.test(dir)) throw invalidInput('InvalidBundle', `bundle path ${escapeValue(dir)} is empty or contains a control character`, 'pass the bundle directory (--bundle DIR), as runc and crun take it');
  const abs = resolve(cwd, dir);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    throw invalidInput('InvalidBundle', `bundle ${escapeValue(abs)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pass an existing bundle directory that holds config.json');
  }
  if (!isDir) throw invalidInput('InvalidBundle', `bundle ${escapeValue(abs)} is not a directory`, 'pass the bundle directory, not config.json');
  return abs;
}

const CLI_NAMES = new Set(['lsmns', 'lsmns.cjs', 'lsmns.js']);
const LSMNS_BIN_NAMES = new Set([...CLI_NAMES, 'lsmns-hook-client']);

/** True when a hook entry is lsmns's own for that stage (either front door), so it is not added twice. */
export function isLsmnsHook(h: OciHook, stage: string): boolean {
  const words = [h.path, ...(h.args ?? [])];
  return words.some((w) => LSMNS_BIN_NAMES.has(basename(w))) && (h.args ?? []).includes(stage);
}

/** The hook entry for one stage: lsmns's options travel in env, with an explicit PATH and a bounded timeout. */
export function hookEntry(stage: ShimHookStage, o: Pick<PrepareOptions, 'options' | 'hook' | 'policyWaitMs'> & { path?: string; node?: string }): OciHook {
  const env = [`PATH=${o.path ?? hookPath()}`];
  const keys: (keyof CommonOptions)[] = o.hook.mode === 'served' ? ['socket'] : ['backend', 'simState', 'securityfs', 'policyDir', 'hostProfileDir', 'stateDir'];
  for (const k of keys) env.push(`${ENV[k]}=${o.options[k]}`);
  if (o.policyWaitMs !== undefined && o.hook.mode === 'standalone') env.push(`LSMNS_POLICY_WAIT=${o.policyWaitMs}`);
  const bin = o.hook.bin;
  if (!bin.startsWith('/')) throw invalidInput('InvalidInput', `hook program ${escapeValue(bin)} is not an absolute path`, 'runtimes run hooks by absolute path; give the installed path of lsmns (LSMNS_BIN) or lsmns-hook-client');
  if (o.hook.mode === 'served') return { path: bin, args: ['lsmns-hook-client', stage], env, timeout: HOOK_TIMEOUT_S[stage] };
  // A .cjs/.js entry is run by this node directly: no /usr/bin/env lookup on every container start.
  if (/\.c?js$/.test(bin)) return { path: o.node ?? process.execPath, args: ['node', bin, 'hook', stage], env, timeout: HOOK_TIMEOUT_S[stage] };
  return { path: bin, args: ['lsmns', 'hook', stage], env, timeout: HOOK_TIMEOUT_S[stage] };
}

/** The absolute lsmns CLI for standalone hooks: LSMNS_BIN, else the script this process runs, else PATH. */
export function defaultLsmnsBin(env: NodeJS.ProcessEnv = process.env, argv1: string | undefined = process.argv[1]): string {
  if (env.LSMNS_BIN?.startsWith('/')) return env.LSMNS_BIN;
  if (argv1 && CLI_NAMES.has(basename(argv1))) return resolve(argv1);
  for (const d of (env.PATH ?? '').split(':')) {
    if (!d.startsWith('/')) continue;
    try {
      accessSync(`${d}/lsmns`, constants.X_OK);
      return `${d}/lsmns`;
    } catch {
      // not here
    }
  }
  throw invalidInput('InvalidInput', 'cannot find the lsmns CLI for the hooks the shim adds', 'set LSMNS_BIN to the absolute path of lsmns');
}

/**
 * The temporary files of config.json rewrites by a shim that was killed before its rename (writeFileAtomic
 * names them <file>.lsmns-<pid>-<n>.tmp): removed once their writer is gone, so that retried creates do not pile
 * them up in the bundle. A live writer's file is its own. Returns the names removed.
 */
export function sweepDeadWrites(file: string): string[] {
  const dir = dirname(file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const dead = names.filter((n) => {
    const pid = atomicTempWriter(n, basename(file));
    return pid !== null && pid !== process.pid && procStartTime(pid) === null;
  });
  for (const n of dead) rmSync(`${dir}/${n}`, { force: true });
  return dead;
}

export async function prepareBundle(bundleDir: string, o: PrepareOptions): Promise<PrepareResult> {
  const bundle = checkBundleDir(bundleDir);
  const { path, config, text } = readBundleConfig(bundle);
  const result: PrepareResult = { outcome: 'skipped', bundle, config: path, plan: null, label: null, labelTo: null, hooksAdded: [], displayLsm: null, changed: false };
  const { kernel, runtime } = o.backend;
  // The raw document (the text already read), so that every field the runtime reads survives untouched.
  const doc = JSON.parse(text) as ConfigDoc & { hooks?: Record<string, OciHook[]> };
  const target = { dir: bundle, containerId: o.containerId ?? null, doc };
  if (!hasLsmnsAnnotations(config.annotations)) {
    runtime.prepare(target, null);
    return result;
  }

  // The state a hook will see, so that "auto" names and references agree between the shim and the hooks.
  const state: OciState | null = o.containerId ? { ociVersion: config.ociVersion ?? '1.0.2', id: o.containerId, status: 'creating', bundle, annotations: config.annotations } : null;
  const request = requestFromBundle(config, { kind: 'bundle', ref: path }, state, { delivery: 'shim' });
  const p = plan(request, await kernel.probe());
  result.plan = p;
  assertApplicable(p);
  if (p.outcome === 'noop') {
    result.outcome = 'noop';
    return result;
  }

  const transition = p.steps.find((s): s is TransitionRootTaskStep => s.kind === 'transitionRootTask' && s.status === 'planned');
  const app = transition && transition.args.role === 'app' ? transition.args : null;
  const display = displayInterfaceOf(p.steps);
  result.label = app?.label ?? null;

  const hooks = (doc.hooks ??= {});
  for (const stage of SHIM_HOOK_STAGES) {
    const have = [...(hooks[stage] ?? []), ...(stage === 'createRuntime' ? hooks.prestart ?? [] : [])];
    if (have.some((h) => isLsmnsHook(h, stage) || (stage === 'createRuntime' && isLsmnsHook(h, 'prestart')))) continue;
    // poststop goes first: runc stops at the first failing poststop hook, and a bundle's own failing one must
    // not keep lsmns from releasing the namespace (issue 16). createRuntime goes last, after the bundle's own.
    const entry = hookEntry(stage, o);
    if (stage === 'poststop') (hooks[stage] ??= []).unshift(entry);
    else (hooks[stage] ??= []).push(entry);
    result.hooksAdded.push(stage);
  }
  const relabel = runtime.prepare(target, app ? { label: app.label, display: display ? 'apparmor' : null, container: app.container } : null);
  crashPoint('shim-intent');
  if (app) result.labelTo = runtime.describe().labelTo;
  if (display && runtime.shimSetsDisplay) result.displayLsm = { lsm: 'apparmor', interface: display };
  if (result.hooksAdded.length > 0 || relabel) {
    // The runtime reads the old or the new config.json whole, with the mode it had.
    sweepDeadWrites(path);
    writeFileAtomic(path, `${JSON.stringify(doc, null, 2)}\n`, { mode: statSync(path).mode & 0o7777, beforeRename: () => crashPoint('shim-config-tmp') });
    crashPoint('shim-config');
    result.changed = true;
  }
  result.outcome = 'prepared';
  return result;
}
