// `lsmns hook <stage>`: the standalone front door of the hook logic, run once per container start by the
// runtime. It is dispatched by bin/lsmns.cjs without oclif, and imports nothing heavy (no Kubernetes client,
// no YAML), because a hook's start-up is paid on every container start.

import { parseArgs } from 'node:util';
import { COMMON_ARGS, nodeOptions, withConfig, type HostProbe } from '../config.js';
import { ExitCode, invalidInput, toLsmnsError } from '../errors.js';
import { policyStoreOf } from '../policy/store.js';
import { fileLog, hookErrorLine, hookExitCode, parseStage, policyWaitOf, runHook, type HookResult } from './hook.js';
import { openNodeBackend } from './node-guard.js';
import { parseOciState } from './spec.js';

export const HOOK_USAGE = 'usage: lsmns hook <createRuntime|prestart|poststop> [--policy-wait MS] [--backend sim|securityfs] [--sim-state PATH] [--state-dir PATH] [--policy-dir PATH] [--config FILE] [--output text|json] < OCI-state.json';

export interface HookIo {
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The host's AppArmor state, for the no-silent-sim rule (the real host when absent). */
  host?: HostProbe;
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        ...COMMON_ARGS, 'policy-wait': { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw invalidInput('InvalidInput', `lsmns hook: ${(e as Error).message}`, HOOK_USAGE);
  }
}

/** Runs one hook invocation; returns the exit code. The state text is what the runtime wrote on stdin. */
export async function hookMain(args: string[], stateText: string, io: HookIo): Promise<number> {
  let stage = args[0] ?? '(none)';
  let json = false;
  try {
    const { values, positionals } = parse(args);
    if (values.help) {
      io.stdout(`${HOOK_USAGE}\n`);
      return ExitCode.Ok;
    }
    json = values.output === 'json';
    if (positionals.length !== 1) throw invalidInput('InvalidInput', `lsmns hook takes one stage, got ${positionals.length}`, HOOK_USAGE);
    stage = positionals[0]!;
    const hookStage = parseStage(stage);
    const o = nodeOptions(values, io.env);
    const state = parseOciState(stateText);
    const backend = await openNodeBackend(o, io.host);
    const log = fileLog(o.stateDir, 'hook');
    let r: HookResult;
    try {
      r = await runHook(hookStage, state, { backend, policies: policyStoreOf(o), stateDir: o.stateDir, policyWaitMs: policyWaitOf(values['policy-wait'] as string | undefined, withConfig(io.env, o.file)), log });
    } finally {
      log.close();
    }
    if (json) io.stdout(`${JSON.stringify(r)}\n`);
    return ExitCode.Ok;
  } catch (e) {
    const err = toLsmnsError(e);
    if (json) io.stdout(`${JSON.stringify(err.toJSON())}\n`);
    io.stderr(`${hookErrorLine(stage, err)}\n`);
    return hookExitCode(err);
  }
}
