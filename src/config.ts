// The options every lsmns entry point shares (SPEC §3), each with an environment variable so that hooks.d
// JSON can pass it. Resolved from explicit values, then the environment, then defaults. Read only when a
// command runs, never when a module loads.

import { resolve } from 'node:path';
import { invalidInput } from './errors.js';
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

const FLAG: Record<keyof CommonOptions, string> = {
  backend: '--backend', simState: '--sim-state', securityfs: '--securityfs', policyDir: '--policy-dir',
  hostProfileDir: '--host-profile-dir', stateDir: '--state-dir', socket: '--socket',
};

export function resolveOptions(given: Partial<Record<keyof CommonOptions, string | undefined>>, env: NodeJS.ProcessEnv): CommonOptions {
  const out = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof CommonOptions)[]) {
    const v = given[k] ?? env[ENV[k]];
    if (v === undefined || v === '') continue;
    if (v.includes('\0') || /[\n\r]/.test(v)) throw invalidInput('InvalidInput', `${FLAG[k]} (${ENV[k]}) ${escapeValue(v)} contains a control character`, `give a plain path`);
    if (k === 'backend') {
      if (v !== 'sim' && v !== 'securityfs') throw invalidInput('InvalidInput', `${FLAG[k]} (${ENV[k]}) ${escapeValue(v)}: must be sim or securityfs`, 'use --backend sim (the default) or --backend securityfs');
      out.backend = v;
    } else {
      out[k] = resolve(v);
    }
  }
  return out;
}
