// oci-hooks 1.0.0 JSON for hooks.d (podman, CRI-O): lsmns's createRuntime and poststop hooks, run only for
// containers that carry an lsmns annotation. Pure: returns the files; src/install/files.ts writes them.

import type { CommonOptions } from '../config.js';
import { hookEntry, SHIM_HOOK_STAGES, type HookCommand } from '../oci/shim.js';

export const OCI_HOOKS_VERSION = '1.0.0';

/**
 * The gate: any key under lsmns.io/ or container.lsmns.io/ (anchored at the start), any value. Gating on every
 * lsmns key, not only lsmns.io/apparmor-namespace, means a pod with a misspelt or missing namespace key reaches
 * the hook and is refused, instead of starting without confinement. A value pattern of ".*" matches every value,
 * a newline included (the match is unanchored), so a hostile value still reaches the hook (fail closed). One
 * pattern only: podman and CRI-O require every pattern in when.annotations to match.
 */
export const WHEN_ANNOTATIONS = { '^(lsmns\\.io|container\\.lsmns\\.io)/': '.*' } as const;

export interface InstallFile {
  /** Absolute path of the file. */
  path: string;
  content: string | Uint8Array;
  mode: number;
}

export interface HooksDOptions {
  hooksDir: string;
  options: CommonOptions;
  hook: HookCommand;
  /** PATH in the hook's env; defaults to one that finds this node. */
  path?: string;
  node?: string;
}

export function hooksDFileName(stage: string): string {
  return `50-lsmns-${stage}.json`;
}

export function renderHooksD(o: HooksDOptions): InstallFile[] {
  return SHIM_HOOK_STAGES.map((stage) => {
    const doc = { version: OCI_HOOKS_VERSION, hook: hookEntry(stage, o), when: { annotations: WHEN_ANNOTATIONS }, stages: [stage] };
    return { path: `${o.hooksDir.replace(/\/+$/, '')}/${hooksDFileName(stage)}`, content: `${JSON.stringify(doc, null, 2)}\n`, mode: 0o644 };
  });
}

/** The JSON shipped under hooks/hooks.d/ (standalone and served), for the usual install paths and defaults. */
export const SHIPPED = { lsmnsBin: '/usr/local/bin/lsmns', hookClient: '/usr/local/libexec/lsmns/lsmns-hook-client', path: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export function shippedHooksD(options: CommonOptions, repoHooksDir: string): InstallFile[] {
  return [
    ...renderHooksD({ hooksDir: `${repoHooksDir}/hooks.d/standalone`, options, hook: { mode: 'standalone', bin: SHIPPED.lsmnsBin }, path: SHIPPED.path }),
    ...renderHooksD({ hooksDir: `${repoHooksDir}/hooks.d/served`, options, hook: { mode: 'served', bin: SHIPPED.hookClient }, path: SHIPPED.path }),
  ];
}
