// The node agent: serves the hook logic over its socket (served hooks, SPEC §3). Without Kubernetes flags this
// is all it does; the Kubernetes side (--node) adds its own parts beside the server and shares start/stop.
// The agent keeps no state of its own: every request opens the kernel port afresh and the sim and ownership
// files stay the truth, so a restart between createRuntime and poststop loses nothing.

import { statSync } from 'node:fs';
import { pino } from 'pino';
import type { CommonOptions } from '../config.js';
import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';
import { openKernel } from '../kernel/factory.js';
import { skipsFast } from '../oci/gate.js';
import { DEFAULT_POLICY_WAIT_MS, HOOK_STAGES, hookErrorLine, hookExitCode, parseStage, runHook } from '../oci/hook.js';
import { parseOciState, type OciState } from '../oci/spec.js';
import { escapeValue } from '../schema/names.js';
import { AgentServer, type HookHandler, type HookReply, type Logger, type Route } from './server.js';

export interface AgentOptions {
  common: CommonOptions;
  policyWaitMs?: number;
  maxBodyBytes?: number;
  /** A listening socket handed over by systemd (LISTEN_FDS), used instead of binding common.socket. */
  listenFd?: number;
  logger?: Logger;
  /** Extra endpoints (the served shim's /v1/shim/prepare), by path. */
  routes?: Record<string, Route>;
}

/** The JSON-lines logger on stderr (fd 2, synchronous so that the last lines before exit are not lost). */
export function stderrLogger(): Logger {
  return pino({ base: { pid: process.pid, name: 'lsmns-agent' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}

/** Config files larger than this are refused before they are read: a runtime's config.json is a few KiB. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Bundle paths from the socket are checked before anything reads them: a long-lived agent must not be stalled
 * by a FIFO or a device where config.json should be (a one-shot hook only hurts itself), and runtimes always
 * send a clean absolute path, so anything else is refused with the same code as the hook's own check.
 */
export function checkBundlePath(state: OciState): void {
  const b = state.bundle;
  const odd = (why: string) => invalidInput('InvalidBundle', `bundle path ${escapeValue(b)} of container ${escapeValue(state.id)} ${why}`, 'pass the absolute, normalised bundle directory, as runtimes do');
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

/** The hook handler: the same gate, parser and runHook as `lsmns hook`, with the same exit codes and lines. */
export function hookHandler(o: { common: CommonOptions; policyWaitMs: number; logger: Logger }): HookHandler {
  return async (stage, text): Promise<HookReply> => {
    try {
      const hookStage = parseStage(stage);
      if (skipsFast(stage, text)) return { exitCode: ExitCode.Ok, message: '' };
      const state = parseOciState(text);
      checkBundlePath(state);
      // A fresh port per call, as a hook process has: facts are probed from the state file as it is now.
      const port = await openKernel(o.common);
      await runHook(hookStage, state, {
        port, stateDir: o.common.stateDir, policyDir: o.common.policyDir, policyWaitMs: o.policyWaitMs,
        log: (e) => o.logger.info({ front: 'agent', ...e }),
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
export function lockKeyOf(text: string): string | null {
  let s: { annotations?: unknown } | null;
  try {
    s = JSON.parse(text) as { annotations?: unknown } | null;
  } catch {
    return null;
  }
  const ann = s && typeof s === 'object' && s.annotations && typeof s.annotations === 'object' ? s.annotations as Record<string, unknown> : null;
  if (!ann) return 'lsmns:unknown-pod';
  const str = (k: string) => (typeof ann[k] === 'string' ? ann[k] as string : null);
  const ns = str('lsmns.io/apparmor-namespace');
  if (ns && ns !== 'auto') return `ns:${ns}`;
  const id = str('io.kubernetes.cri.sandbox-uid') ?? str('io.kubernetes.pod.uid') ?? str('io.kubernetes.cri.sandbox-id') ?? str('io.kubernetes.cri-o.SandboxID');
  if (id) return `pod:${id}`;
  return 'lsmns:unknown-pod';
}

/** systemd socket activation: fd 3 when LISTEN_PID names this process and LISTEN_FDS hands over one socket. */
export function systemdListenFd(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  if (env.LISTEN_PID === undefined && env.LISTEN_FDS === undefined) return undefined;
  if (env.LISTEN_PID !== String(pid)) return undefined; // Meant for another process (an inherited environment).
  if (env.LISTEN_FDS !== '1') {
    throw new LsmnsError({ code: 'InvalidInput', exitCode: ExitCode.InvalidInput, message: `LISTEN_FDS=${escapeValue(env.LISTEN_FDS ?? '')}: the agent takes exactly one socket from systemd`, remedy: 'give lsmns-agent.socket a single ListenStream= line' });
  }
  return 3;
}

export class Agent {
  readonly server: AgentServer;
  readonly logger: Logger;

  constructor(readonly o: AgentOptions) {
    this.logger = o.logger ?? stderrLogger();
    const handler = hookHandler({ common: o.common, policyWaitMs: o.policyWaitMs ?? DEFAULT_POLICY_WAIT_MS, logger: this.logger });
    this.server = new AgentServer({
      socket: o.common.socket, handler, stages: HOOK_STAGES, logger: this.logger, lockKey: lockKeyOf,
      ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
      ...(o.listenFd !== undefined ? { listenFd: o.listenFd } : {}),
      ...(o.routes ? { routes: o.routes } : {}),
    });
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  /** Finishes the requests in flight and removes the socket (unless systemd owns it). */
  async stop(): Promise<void> {
    await this.server.stop();
  }

  /** Runs until SIGTERM or SIGINT, then stops cleanly. */
  async runUntilSignal(): Promise<void> {
    await new Promise<void>((resolve) => {
      const onSignal = (sig: string) => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        this.logger.info({ event: 'signal', signal: sig, inFlight: this.server.requestsInFlight });
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    await this.stop();
  }
}
