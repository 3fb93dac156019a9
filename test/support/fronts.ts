// The two shim fronts: hooks/lsmns-runtime (sh) and the static one `make build` compiles. They must behave
// alike, so the front's tests run for both (as test/agent/helpers.ts CLIENTS does for the hook clients).

import { fileURLToPath } from 'node:url';

export const SH_FRONT = fileURLToPath(new URL('../../../hooks/lsmns-runtime', import.meta.url));
export const NATIVE_FRONT = fileURLToPath(new URL('../../native/lsmns-runtime', import.meta.url));

/** How to run each front: cmd and the arguments before the runtime's own. */
export const FRONTS = [
  { name: 'sh', cmd: 'sh', args: [SH_FRONT] },
  { name: 'static', cmd: NATIVE_FRONT, args: [] as string[] },
] as const;
export type Front = (typeof FRONTS)[number];
