// The options every lsmns entry point shares (SPEC §3), each with an environment variable so that hooks.d
// JSON can pass it, and the node configuration file (/etc/lsmns/node.conf) whose keys are those variables'
// names. Resolved as: flag, then LSMNS_* variable, then the file, then the default. Read only when a command
// runs, never when a module loads.

import { existsSync, readFileSync } from 'node:fs';
import { BoundedReadError, readFileBounded } from './fsutil.js';
import { resolve } from 'node:path';
import { ExitCode, LsmnsError, invalidInput } from './errors.js';
import { escapeValue } from './schema/names.js';
import type { BackendName } from './kernel/port.js';

export interface CommonOptions {
  backend: BackendName;
  simState: string;
  securityfs: string;
  policyDir: string;
  hostProfileDir: string;
  stateDir: string;
  socket: string;
}

export const DEFAULTS: CommonOptions = {
  backend: 'sim',
  simState: '/var/lib/lsmns/sim-kernel.json',
  securityfs: '/sys/kernel/security',
  policyDir: '/etc/lsmns/policies',
  hostProfileDir: '/etc/apparmor.d',
  stateDir: '/var/lib/lsmns',
  socket: '/run/lsmns/agent.sock',
};

export const ENV: Record<keyof CommonOptions, string> = {
  backend: 'LSMNS_BACKEND',
  simState: 'LSMNS_SIM_STATE',
  securityfs: 'LSMNS_SECURITYFS',
  policyDir: 'LSMNS_POLICY_DIR',
  hostProfileDir: 'LSMNS_HOST_PROFILE_DIR',
  stateDir: 'LSMNS_STATE_DIR',
  socket: 'LSMNS_SOCKET',
};

/** The node configuration file every front door reads unless --config or LSMNS_CONFIG names another. */
export const DEFAULT_CONFIG = '/etc/lsmns/node.conf';
export const CONFIG_ENV = 'LSMNS_CONFIG';

/**
 * The keys node.conf may hold besides the common options: read by the fronts (the shim front and the hook
 * client, which parse the same file in sh and C; test/config.test.ts keeps their key lists equal to this).
 */
export const NODE_KEYS = {
  shimMode: 'LSMNS_SHIM_MODE',
  runtime: 'LSMNS_RUNTIME',
  bin: 'LSMNS_BIN',
  hookClient: 'LSMNS_HOOK_CLIENT',
  clientTimeout: 'LSMNS_CLIENT_TIMEOUT',
  policyWait: 'LSMNS_POLICY_WAIT',
} as const;

export const CONFIG_KEYS: readonly string[] = [...Object.values(ENV), ...Object.values(NODE_KEYS)];

const FLAG: Record<keyof CommonOptions, string> = {
  backend: '--backend', simState: '--sim-state', securityfs: '--securityfs', policyDir: '--policy-dir',
  hostProfileDir: '--host-profile-dir', stateDir: '--state-dir', socket: '--socket',
};

/** A node configuration as read: where it came from and its KEY=value pairs. */
export interface NodeConfig {
  path: string;
  values: Record<string, string>;
}

/**
 * Parses node.conf strictly: `KEY=value` lines (no quotes, no spaces around `=`, the value runs to the end of
 * the line), blank lines and `#` comments. An unknown key, a repeated key or any other line is refused with
 * file:line, so that a typo never silently falls back to a default (the sim backend, say).
 */
export function parseNodeConfig(text: string, path: string): NodeConfig {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const where = `${path}:${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw invalidInput('InvalidInput', `${where}: ${escapeValue(line.slice(0, 80))} is not a KEY=value line`, 'write KEY=value with no spaces or quotes, e.g. LSMNS_BACKEND=securityfs (lsmns doctor checks the file)');
    const [, key, value] = m as unknown as [string, string, string];
    if (!CONFIG_KEYS.includes(key)) throw invalidInput('InvalidInput', `${where}: unknown key ${key}`, `use one of ${CONFIG_KEYS.join(', ')}`);
    if (key in values) throw invalidInput('InvalidInput', `${where}: ${key} is set twice`, 'keep one line per key');
    if (/[\0\r]/.test(value)) throw invalidInput('InvalidInput', `${where}: the value of ${key} contains a control character`, 'give a plain value');
    values[key] = value;
  });
  return { path, values };
}

/**
 * Reads the node configuration: FILE from --config, else LSMNS_CONFIG, else /etc/lsmns/node.conf. A file
 * named explicitly must exist; the default may be absent (null: a machine that was never installed as a node).
 */
/** A node configuration is a few hundred bytes; more than this is not one. */
const MAX_CONFIG_BYTES = 64 * 1024;

export function readNodeConfig(flag: string | undefined, env: NodeJS.ProcessEnv): NodeConfig | null {
  const named = flag ?? (env[CONFIG_ENV] || undefined);
  const path = resolve(named ?? DEFAULT_CONFIG);
  let text: string;
  try {
    // Bounded whatever stat says, and only a regular file: a FIFO or an endless file must not stall a front door.
    text = readFileBounded(path, { maxBytes: MAX_CONFIG_BYTES, regularOnly: true }).toString('utf8');
  } catch (e) {
    const code = e instanceof BoundedReadError ? e.reason : (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && named === undefined) return null;
    throw invalidInput('InvalidInput', `node configuration ${path}: ${code && /^E[A-Z]+$/.test(code) ? code : e instanceof BoundedReadError ? e.message : (e as Error).message}`, `give an existing file to --config (${CONFIG_ENV}), or write one with lsmns install`);
  }
  return parseNodeConfig(text, path);
}

/** Where the backend came from: the guard below refuses only the default one on an AppArmor host. */
export type OptionSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedOptions extends CommonOptions {
  backendFrom: OptionSource;
  /** The node configuration that was read, or null. */
  config: string | null;
}

type Given = Partial<Record<keyof CommonOptions, string | undefined>>;

/** One value by precedence: flag, then LSMNS_* variable, then the node configuration. Empty counts as unset. */
export function pick(flag: string | undefined, key: string, env: NodeJS.ProcessEnv, file: NodeConfig | null): { value: string; from: OptionSource } | null {
  if (flag !== undefined && flag !== '') return { value: flag, from: 'flag' };
  const e = env[key];
  if (e !== undefined && e !== '') return { value: e, from: 'env' };
  const f = file?.values[key];
  if (f !== undefined && f !== '') return { value: f, from: 'file' };
  return null;
}

/** The common options: flags, then LSMNS_* variables, then the node configuration, then the defaults. */
export function resolveOptions(flags: Given, env: NodeJS.ProcessEnv, file: NodeConfig | null = null): ResolvedOptions {
  const out: ResolvedOptions = { ...DEFAULTS, backendFrom: 'default', config: file?.path ?? null };
  for (const k of Object.keys(DEFAULTS) as (keyof CommonOptions)[]) {
    const got = pick(flags[k], ENV[k], env, file);
    if (!got) continue;
    const v = got.value;
    const what = got.from === 'file' ? `${ENV[k]} in ${file!.path}` : `${FLAG[k]} (${ENV[k]})`;
    if (v.includes('\0') || /[\n\r]/.test(v)) throw invalidInput('InvalidInput', `${what} ${escapeValue(v)} contains a control character`, `give a plain path`);
    if (k === 'backend') {
      if (v !== 'sim' && v !== 'securityfs') throw invalidInput('InvalidInput', `${what} ${escapeValue(v)}: must be sim or securityfs`, 'use --backend sim (the default) or --backend securityfs');
      out.backend = v;
      out.backendFrom = got.from;
    } else {
      out[k] = resolve(v);
    }
  }
  return out;
}

/** The flags as parsed by name (`sim-state`, ...; oclif's and node:util parseArgs's shape), to resolveOptions's keys. */
export function givenFromFlags(flags: Record<string, unknown>): Given {
  const out: Given = {};
  for (const k of Object.keys(FLAG) as (keyof CommonOptions)[]) {
    const v = flags[FLAG[k].slice(2)];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** The common flags and --config for node:util parseArgs (the hook and the shim, which do not load oclif). */
export const COMMON_ARGS = Object.fromEntries([...Object.values(FLAG), '--config'].map((f) => [f.slice(2), { type: 'string' as const }]));

/** The common options of a front door: its --config (or LSMNS_CONFIG) is read, then resolveOptions. */
export function nodeOptions(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ResolvedOptions & { file: NodeConfig | null } {
  const file = readNodeConfig(typeof flags.config === 'string' ? flags.config : undefined, env);
  return { ...resolveOptions(givenFromFlags(flags), env, file), file };
}

/** What the host says about AppArmor; injectable, so the rule below is testable on a host without it. */
export interface HostProbe {
  /** /sys/module/apparmor/parameters/enabled is Y and securityfs has apparmor/. */
  appArmorEnabled(): boolean;
}

/**
 * No silent sim on a node (SPEC §3): a hook, shim or agent whose backend is only the default, on a host where
 * AppArmor is enabled, must not act on the simulated kernel, which writes no label and so would start the
 * container under the runtime's default profile while lsmns reports it confined. Returns the refusal (exit 3)
 * or null. The CLI's plan, apply and sim keep the sim default: they do not start containers.
 */
export function nodeBackendRefusal(o: ResolvedOptions, host: HostProbe): LsmnsError | null {
  if (o.backendFrom !== 'default' || !host.appArmorEnabled()) return null;
  return new LsmnsError({
    code: 'NodeNotConfigured', exitCode: ExitCode.NotPossible,
    message: `this host has AppArmor enabled, but there is no node configuration (${DEFAULT_CONFIG}, or --config / ${CONFIG_ENV}) and no backend was given, so lsmns will not act on the simulated kernel here`,
    remedy: `run lsmns install (it writes ${DEFAULT_CONFIG} with LSMNS_BACKEND=securityfs), or set LSMNS_BACKEND=securityfs; LSMNS_BACKEND=sim only to try lsmns out`,
  });
}

/** The host as it is: AppArmor's module parameter and securityfs's apparmor/ directory. */
export function systemHost(securityfs = DEFAULTS.securityfs, sysModule = '/sys/module'): HostProbe {
  return {
    appArmorEnabled() {
      try {
        return readFileSync(`${sysModule}/apparmor/parameters/enabled`, 'utf8').trim() === 'Y' && existsSync(`${securityfs}/apparmor`);
      } catch {
        return false;
      }
    },
  };
}

/** The environment as a front door sees it: LSMNS_* variables over the node configuration's values. */
export function withConfig(env: NodeJS.ProcessEnv, file: NodeConfig | null): NodeJS.ProcessEnv {
  if (!file) return env;
  const out: NodeJS.ProcessEnv = { ...file.values };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
