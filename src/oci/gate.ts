// The gate every hook call passes first, importing only the zero-import key list: it decides from the OCI state alone whether a
// container is lsmns's business, so that unannotated containers cost only a JSON.parse (SPEC §7).

import { hasLsmnsAnnotations } from '../schema/keys.js';

export const HOOK_STAGES = ['createRuntime', 'prestart', 'poststop'] as const;
export type HookStage = (typeof HOOK_STAGES)[number];

/**
 * True when the hook can return 0 at once: a known stage, and a state whose annotations (runc, crun and
 * podman copy config.json's into it) carry no lsmns key. Anything odd goes the slow way, which reports it.
 */
export function skipsFast(stage: string | undefined, stateText: string): boolean {
  if (!(HOOK_STAGES as readonly string[]).includes(stage ?? '')) return false;
  let s: unknown;
  try {
    s = JSON.parse(stateText);
  } catch {
    return false;
  }
  return skipsFastParsed(stage, s);
}

/** skipsFast for a state already parsed (the agent parses each request once); undefined is unparsable. */
export function skipsFastParsed(stage: string | undefined, s: unknown): boolean {
  if (!(HOOK_STAGES as readonly string[]).includes(stage ?? '')) return false;
  if (typeof s !== 'object' || s === null) return false;
  const ann = (s as { annotations?: unknown }).annotations;
  return typeof ann === 'object' && ann !== null && !Array.isArray(ann) && !hasLsmnsAnnotations(ann as Record<string, unknown>);
}
