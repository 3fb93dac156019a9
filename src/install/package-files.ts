// Files this package ships or builds, by absolute path, for the hooks and units that install points at.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file of this package, from its root (this module is dist/src/install/package-files.js). */
export const packageFile = (rel: string): string => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));

/**
 * The served hooks' thin client: the static one `make build` compiles (dist/native/), which starts in well
 * under a millisecond, else hooks/lsmns-hook-client (sh + socat, about 7 ms), which needs no compiler.
 */
export function shippedHookClient(): string {
  return shipped('lsmns-hook-client');
}

/**
 * The shim front: the static one `make build` compiles (dist/native/), which costs well under a millisecond a
 * call, else hooks/lsmns-runtime (sh, about 1.3 ms a call, a dozen calls per pod), which needs no compiler.
 */
export function shippedFront(): string {
  return shipped('lsmns-runtime');
}

function shipped(name: string): string {
  const native = packageFile(`dist/native/${name}`);
  return existsSync(native) ? native : packageFile(`hooks/${name}`);
}
