// The agent's served handlers: the hook calls (POST /v1/hooks/<stage>) and the shim's bundle preparation
// (POST /v1/shim/prepare). Both call the same library functions as `lsmns hook` and `lsmns runtime`, so the
// two front doors answer alike; each call opens the kernel port afresh, so the agent keeps no state of its own.

import { statSync } from 'node:fs';
import type { CommonOptions } from '../config.js';
import { ExitCode, invalidInput, toLsmnsError } from '../errors.js';
import { openBackend, type Backend } from '../kernel/factory.js';
import { skipsFastParsed } from '../oci/gate.js';
import { hookErrorLine, hookExitCode, parseStage, runHook } from '../oci/hook.js';
import { parseRuntimeArgs, runtimeLogLine } from '../oci/runtime-args.js';
import { prepareBundle } from '../oci/shim.js';
import { ociStateOf, parseOciStateJson } from '../oci/spec.js';
import { policyStoreOf } from '../policy/store.js';
import { escapeValue } from '../schema/names.js';
import type { HookHandler, HookReply, Logger, Route } from './server.js';

export const SHIM_PREPARE_PATH = '/v1/shim/prepare';

/**
 * The served shim (POST /v1/shim/prepare, form-encoded `bundle`, `runtime` and the runtime's arguments as
 * repeated `arg`): the same prepareBundle as `lsmns runtime`, with hooks that call this agent. On success the
 * body is empty, or `display=<interface>` when the front must set the display LSM on itself before it execs
 * the runtime (a process may write only its own attr). On failure it is two lines: the message the front
 * prints on stderr, then the runc log line it appends to --log, where containerd reads runtime errors.
 */
export function shimRoute(o: { common: CommonOptions; hookClient: string; logger: Logger; openBackend?: () => Promise<Backend> }): Route {
  return async (body, contentType) => {
    let verb = 'create';
    let logFormat: string | null = null;
    try {
      if (!contentType.startsWith('application/x-www-form-urlencoded')) throw invalidInput('InvalidRequest', `content type ${escapeValue(contentType.slice(0, 80))} on ${SHIM_PREPARE_PATH}`, 'send application/x-www-form-urlencoded fields bundle, runtime and arg (as hooks/lsmns-runtime does)');
      const form = new URLSearchParams(body);
      const bundle = form.get('bundle');
      if (bundle === null) throw invalidInput('InvalidRequest', `${SHIM_PREPARE_PATH} needs a bundle field`, 'send bundle=<absolute bundle directory>');
      if (!bundle.startsWith('/')) throw invalidInput('InvalidBundle', `bundle path ${escapeValue(bundle)} is not absolute`, 'the front resolves the bundle against its working directory; send the absolute path');
      checkBundlePath(bundle, 'the runtime\'s create');
      const ra = parseRuntimeArgs(form.getAll('arg'));
      verb = ra.verb ?? verb;
      logFormat = ra.logFormat;
      if (ra.config !== null && ra.config !== 'config.json') throw invalidInput('InvalidInput', `--config ${escapeValue(ra.config)}: lsmns prepares the bundle's config.json only`, 'drop --config, or use the bundle\'s config.json');
      const backend = await (o.openBackend ?? (() => openBackend(o.common)))();
      const r = await prepareBundle(bundle, { backend, options: o.common, hook: { mode: 'served', bin: o.hookClient }, ...(ra.containerId ? { containerId: ra.containerId } : {}) });
      o.logger.info({ front: 'shim', event: 'prepared', bundle: r.bundle, outcome: r.outcome, label: r.label, hooksAdded: r.hooksAdded, runtime: form.get('runtime') });
      return { exitCode: ExitCode.Ok, body: r.displayLsm ? `display=${r.displayLsm.interface}\n` : '' };
    } catch (e) {
      const err = toLsmnsError(e);
      const line = err.oneLine(`lsmns runtime ${verb}`);
      return { exitCode: hookExitCode(err), body: `${line}\n${runtimeLogLine(logFormat, line, new Date())}` };
    }
  };
}

/** Config files larger than this are refused before they are read: a runtime's config.json is a few KiB. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Bundle paths from the socket are checked before anything reads them: a long-lived agent must not be stalled
 * by a FIFO or a device where config.json should be (a one-shot hook only hurts itself), and runtimes always
 * send a clean absolute path, so anything else is refused with the same code as the hook's own check.
 */
export function checkBundlePath(b: string, whose: string): void {
  const odd = (why: string) => invalidInput('InvalidBundle', `bundle path ${escapeValue(b)} of ${whose} ${why}`, 'pass the absolute, normalised bundle directory, as runtimes do');
  // Relative paths are the hook's own refusal (readBundleConfig, before any read); keep its exact message.
  if (!b.startsWith('/')) return;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(b)) throw odd('contains a control character');
  if (b.split('/').some((seg) => seg === '.' || seg === '..')) throw odd('is not normalised (. or .. segments)');
  let st;
  try {
    st = statSync(`${b.replace(/\/+$/, '')}/config.json`);
  } catch {
    return; // Missing: runHook reports it (or, at poststop, treats a gone bundle as nothing to release).
  }
  if (!st.isFile()) throw odd('holds a config.json that is not a regular file');
  if (st.size > MAX_CONFIG_BYTES) throw odd(`holds a config.json of ${st.size} bytes (over ${MAX_CONFIG_BYTES})`);
}

/**
 * A served hook call's body, parsed once: the lock key, the gate and the hook all read this one value. A body
 * that is not JSON keeps its error, which the handler reports as `lsmns hook` would.
 */
export type ServedState = { doc: unknown; error: null } | { doc: undefined; error: unknown };

export function readServedState(text: string): ServedState {
  try {
    return { doc: parseOciStateJson(text), error: null };
  } catch (e) {
    return { doc: undefined, error: e };
  }
}

/** The hook handler: the same gate, parser and runHook as `lsmns hook`, with the same exit codes and lines. */
export function hookHandler(o: { common: CommonOptions; policyWaitMs: number; logger: Logger; openBackend?: () => Promise<Backend> }): HookHandler<ServedState> {
  return async (stage, served, signal): Promise<HookReply> => {
    try {
      const hookStage = parseStage(stage);
      if (served.error !== null) throw served.error;
      if (skipsFastParsed(stage, served.doc)) return { exitCode: ExitCode.Ok, message: '' };
      const state = ociStateOf(served.doc);
      checkBundlePath(state.bundle, `container ${escapeValue(state.id)}`);
      // A fresh port per call, as a hook process has: facts are probed from the state file as it is now.
      const backend = await (o.openBackend ?? (() => openBackend(o.common)))();
      await runHook(hookStage, state, {
        backend, policies: policyStoreOf(o.common), stateDir: o.common.stateDir, policyWaitMs: o.policyWaitMs,
        log: (e) => o.logger.info({ front: 'agent', ...e }), signal,
        // The agent serialises a pod's calls itself; the file lock only meets GC and standalone hooks.
        lockWaitMs: 3_000,
      });
      return { exitCode: ExitCode.Ok, message: '' };
    } catch (e) {
      const err = toLsmnsError(e);
      return { exitCode: hookExitCode(err), message: hookErrorLine(stage, err), error: err.toJSON() };
    }
  };
}

/**
 * The key work is serialised on: the named AppArmor namespace when the state names one (two pods claiming the
 * same name must not race), else the pod's identity, else one shared key. Read from the state's annotations,
 * which runc, crun and podman copy from config.json; unannotated states take no lock at all.
 */
export function lockKeyOf(served: ServedState): string | null {
  if (served.error !== null) return null;
  const s = served.doc as { annotations?: unknown } | null;
  const ann = s && typeof s === 'object' && s.annotations && typeof s.annotations === 'object' ? s.annotations as Record<string, unknown> : null;
  if (!ann) return 'lsmns:unknown-pod';
  const str = (k: string) => (typeof ann[k] === 'string' ? ann[k] as string : null);
  const ns = str('lsmns.io/apparmor-namespace');
  if (ns && ns !== 'auto') return `ns:${ns}`;
  const id = str('io.kubernetes.cri.sandbox-uid') ?? str('io.kubernetes.pod.uid') ?? str('io.kubernetes.cri.sandbox-id') ?? str('io.kubernetes.cri-o.SandboxID');
  if (id) return `pod:${id}`;
  return 'lsmns:unknown-pod';
}
