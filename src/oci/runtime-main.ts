// `lsmns runtime [--runtime runc|crun|PATH] -- <runtime args>` (SPEC §3): on create/run, prepare the bundle
// (label, lsmns hooks, display LSM), then run the real runtime with the original arguments; every other verb
// passes straight through. Node cannot exec, so the runtime is a child with our stdio and preserved fds,
// our signals forwarded, and its exit status (code or signal) made ours. Dispatched by bin/lsmns.cjs
// without oclif, like the hook.

import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { COMMON_ARGS, nodeOptions, withConfig, type HostProbe } from '../config.js';
import { ExitCode, invalidInput, toLsmnsError } from '../errors.js';
import type { Backend } from '../kernel/factory.js';
import { escapeValue } from '../schema/names.js';
import { parseRuntimeArgs, runtimeLogLine } from './runtime-args.js';
import { fileLog, policyWaitOf } from './hook.js';
import { defaultLsmnsBin, prepareBundle, type PrepareResult } from './shim.js';
import { openNodeBackend } from './node-guard.js';
import { crashPoint } from '../apply/crash.js';

export const RUNTIME_USAGE = 'usage: lsmns runtime [--runtime runc|crun|PATH] [--backend sim|securityfs] [--sim-state PATH] [--state-dir PATH] [--policy-dir PATH] [--config FILE] -- <runtime arguments>';

export interface RuntimeIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stderr: (s: string) => void;
  now?: () => Date;
  /** The host's AppArmor state, for the no-silent-sim rule (the real host when absent). */
  host?: HostProbe;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

function parse(args: string[]) {
  try {
    return parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        ...COMMON_ARGS, runtime: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw invalidInput('InvalidInput', `lsmns runtime: ${(e as Error).message}`, RUNTIME_USAGE);
  }
}

/** Splits `lsmns runtime` flags from the runtime's arguments at the first `--`. */
export function splitArgs(args: string[]): { own: string[]; rt: string[] } {
  const at = args.indexOf('--');
  return at < 0 ? { own: args, rt: [] } : { own: args.slice(0, at), rt: args.slice(at + 1) };
}

/** The runtime's argv0: runc, crun, or a path; anything else is refused (it would be run as root). */
export function runtimeOf(v: string | undefined, env: NodeJS.ProcessEnv): string {
  const rt = v ?? env.LSMNS_RUNTIME ?? 'runc';
  if (rt === 'runc' || rt === 'crun' || (rt.startsWith('/') && !/[\0\n\r]/.test(rt))) return rt;
  throw invalidInput('InvalidInput', `--runtime ${escapeValue(rt)}: must be runc, crun or an absolute path`, 'use --runtime runc, --runtime crun or --runtime /usr/bin/runc');
}

/** Runs the real runtime as a child that looks like an exec: same stdio, fds, signals and exit status. */
export function runRuntime(rt: string, args: string[], cwd: string, preserveFds: number): Promise<number> {
  return new Promise((resolvePromise) => {
    const stdio: ('inherit' | number)[] = ['inherit', 'inherit', 'inherit'];
    for (let fd = 3; fd < 3 + preserveFds; fd++) stdio.push(fd);
    const child = spawn(rt, args, { stdio, cwd });
    crashPoint('shim-runtime-started');
    const forward = (sig: NodeJS.Signals) => { child.kill(sig); };
    for (const s of FORWARDED) process.on(s, forward);
    const done = (code: number, sig: NodeJS.Signals | null) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (sig) {
        // Die of the same signal, as an exec'd runtime would have; the exit code is the fallback.
        process.kill(process.pid, sig);
        resolvePromise(128 + (osSignal(sig) ?? 0));
        return;
      }
      resolvePromise(code);
    };
    child.once('error', (e) => {
      process.stderr.write(`lsmns runtime: cannot run ${rt}: ${(e as NodeJS.ErrnoException).code ?? e.message}\n`);
      done(127, null);
    });
    child.once('exit', (code, sig) => done(code ?? 1, sig));
  });
}

function osSignal(sig: NodeJS.Signals): number | undefined {
  return (constants.signals as Record<string, number>)[sig];
}

/** Prepares the bundle for create/run; the result says what was written, or throws the refusal. */
export async function prepareFor(args: string[], own: Record<string, unknown>, io: RuntimeIo, o = nodeOptions(own, io.env)): Promise<(PrepareResult & { backend: Backend; containerId: string | null }) | null> {
  const ra = parseRuntimeArgs(args);
  if (ra.verb !== 'create' && ra.verb !== 'run') return null;
  if (ra.config !== null && ra.config !== 'config.json') {
    throw invalidInput('InvalidInput', `--config ${escapeValue(ra.config)}: lsmns prepares the bundle's config.json only`, 'drop --config, or use the bundle\'s config.json');
  }
  const env = withConfig(io.env, o.file);
  // The same structured log as the hooks (front "shim"): containerd shows a runtime's errors, never its output.
  const log = fileLog(o.stateDir, 'shim');
  const base = { verb: ra.verb, container: ra.containerId, bundle: ra.bundle ?? io.cwd };
  try {
    const backend = await openNodeBackend(o, io.host);
    // The hooks run with only the env their entry names: a policy wait set for the shim must travel in it.
    const policyWaitMs = env.LSMNS_POLICY_WAIT ? policyWaitOf(undefined, env) : undefined;
    const r = await prepareBundle(ra.bundle ?? io.cwd, { backend, options: o, hook: { mode: 'standalone', bin: defaultLsmnsBin(env) }, containerId: ra.containerId ?? undefined, policyWaitMs });
    if (r.displayLsm) await backend.kernel.writeTaskAttr('self', r.displayLsm.interface, 'apparmor');
    if (r.outcome !== 'skipped') log({ ...base, event: 'prepared', outcome: r.outcome, namespace: r.plan?.namespace?.name ?? null, label: r.label, labelTo: r.labelTo, hooksAdded: r.hooksAdded, displayLsm: r.displayLsm?.interface ?? null });
    return { ...r, backend, containerId: ra.containerId };
  } catch (e) {
    log({ ...base, event: 'refused', ...toLsmnsError(e).toJSON() });
    throw e;
  } finally {
    log.close();
  }
}

export async function runtimeMain(args: string[], io: RuntimeIo): Promise<number> {
  const { own, rt } = splitArgs(args);
  let o: ReturnType<typeof nodeOptions>;
  let runtime: string;
  try {
    const p = parse(own);
    const values = p.values;
    if (values.help) {
      io.stderr(`${RUNTIME_USAGE}\n`);
      return ExitCode.Ok;
    }
    if (p.positionals.length > 0) throw invalidInput('InvalidInput', `lsmns runtime: put the runtime's arguments after --, got ${escapeValue(p.positionals.join(' '))}`, RUNTIME_USAGE);
    // The node configuration is read for every verb: its LSMNS_RUNTIME names the runtime they all go to.
    o = nodeOptions(values, io.env);
    runtime = runtimeOf(values.runtime as string | undefined, withConfig(io.env, o.file));
  } catch (e) {
    io.stderr(`${toLsmnsError(e).oneLine()}\n`);
    return toLsmnsError(e).exitCode;
  }
  const ra = parseRuntimeArgs(rt);
  let prepared: Awaited<ReturnType<typeof prepareFor>>;
  try {
    prepared = await prepareFor(rt, {}, io, o);
  } catch (e) {
    const err = toLsmnsError(e);
    const line = err.oneLine(`lsmns runtime ${ra.verb}`);
    io.stderr(`${line}\n`);
    if (ra.log) {
      try {
        appendFileSync(ra.log, runtimeLogLine(ra.logFormat, line, (io.now ?? (() => new Date()))()));
      } catch {
        // The message is on stderr; an unwritable log must not hide the refusal's exit code.
      }
    }
    return err.exitCode === ExitCode.Ok ? ExitCode.Internal : err.exitCode;
  }
  const code = await runRuntime(runtime, rt, io.cwd, ra.verb === 'create' || ra.verb === 'run' ? ra.preserveFds : 0);
  crashPoint('shim-runtime-exited');
  // A create the runtime refused: what the shim recorded for a container that never started goes.
  if (code !== 0 && prepared?.labelTo) prepared.backend.runtime.abandoned({ dir: prepared.bundle, containerId: prepared.containerId });
  return code;
}
