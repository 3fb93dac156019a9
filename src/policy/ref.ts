// Where a policy reference resolves in the node's policy store (SPEC §4), as a path relative to the store. Pure.

import type { PolicyRef } from '../plan/types.js';

export const CLUSTER_SCOPE = 'cluster';

/** The file a policy reference resolves to, relative to the store. `policy` is NAME or cluster/NAME (validated). */
export function policyFileOf(ref: PolicyRef): string {
  if (ref.policy.startsWith(`${CLUSTER_SCOPE}/`)) return `${CLUSTER_SCOPE}/${ref.policy.slice(CLUSTER_SCOPE.length + 1)}.aa`;
  return ref.podNamespace ? `${ref.podNamespace}/${ref.policy}.aa` : `${ref.policy}.aa`;
}
