// The label a container's root task gets (SPEC §1, §2), and how the node will print it once applied.

import type { Stacking } from '../schema/annotations.js';

export interface LabelInput {
  namespace: string;
  profile: string;
  stacking: Stacking;
  hostProfile: string | null;
}

/**
 * bounded without a host profile: &:NS:P (stack on whatever the runtime leaves, usually unconfined);
 * bounded with a host profile:    HOST//&:NS:P;
 * none:                           :NS:P (refused by the planner when a host profile applies).
 */
export function computeLabel(i: LabelInput): string {
  const tenant = `:${i.namespace}:${i.profile}`;
  if (i.stacking === 'none') return tenant;
  return i.hostProfile ? `${i.hostProfile}//&${tenant}` : `&${tenant}`;
}
