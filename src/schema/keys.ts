// The annotation keys of schema v1 (SPEC §1) and the one test for "is this an lsmns key". Zero imports:
// the hook's gate loads this alone to let unannotated containers go after one JSON.parse.

export const PREFIX = 'lsmns.io/';
export const CONTAINER_PREFIX = 'container.lsmns.io/';

export const Keys = {
  namespace: 'lsmns.io/apparmor-namespace',
  profile: 'lsmns.io/apparmor-profile',
  policy: 'lsmns.io/apparmor-policy',
  stacking: 'lsmns.io/apparmor-stacking',
  hostProfile: 'lsmns.io/host-profile',
  displayLsm: 'lsmns.io/display-lsm',
} as const;

/** Kubernetes' beta AppArmor annotation (one per container); older pods still set their profile with it. */
export const BETA_APPARMOR_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

export function isLsmnsKey(key: string): boolean {
  return key.startsWith(PREFIX) || key.startsWith(CONTAINER_PREFIX);
}

/** True when any annotation is an lsmns one: the pod or container opted in. */
export function hasLsmnsAnnotations(ann: Record<string, unknown> | undefined | null): boolean {
  if (!ann) return false;
  for (const k of Object.keys(ann)) if (isLsmnsKey(k)) return true;
  return false;
}
