// The two shim fronts: hooks/lsmns-runtime (sh) and the static one `make build` compiles. They must behave
// alike, so the front's tests run for both (as test/agent/helpers.ts CLIENTS does for the hook clients).

import { fileURLToPath } from 'node:url';

export const SH_FRONT = fileURLToPath(new URL('../../../hooks/lsmns-runtime', import.meta.url));
export const NATIVE_FRONT = fileURLToPath(new URL('../../native/lsmns-runtime', import.meta.url));

/** Each front: its file (what a handler names), and how to run it here (cmd, then args before the runtime's own). */
export const FRONTS = [
  { name: 'sh', path: SH_FRONT, cmd: 'sh', args: [SH_FRONT] },
  { name: 'static', path: NATIVE_FRONT, cmd: NATIVE_FRONT, args: [] as string[] },
] as const;
export type Front = (typeof FRONTS)[number];
