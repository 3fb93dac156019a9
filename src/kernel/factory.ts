// Picks the backend behind the kernel port. The only place that knows both exist.

import type { CommonOptions } from '../config.js';
import { DEFAULTS } from '../config.js';
import type { KernelPort } from './port.js';
import { SimKernel } from './sim/port.js';
import type { BootParams } from './sim/model.js';

export interface KernelOptions extends Pick<CommonOptions, 'backend' | 'simState' | 'securityfs'> {
  /** Boot parameters for a new sim (from --lsm/--kernel); an existing sim must match them. */
  boot?: Partial<BootParams> | null;
  /** Where the securityfs backend caches compiled policy (the default state dir when absent). */
  stateDir?: string;
}

export async function openKernel(o: KernelOptions): Promise<KernelPort> {
  if (o.backend === 'sim') return new SimKernel({ path: o.simState, boot: o.boot ?? null });
  // Loaded only when asked for: it pulls in execa and the policy compiler, which the sim-backed hook never needs
  // (the bundles keep it, but its module code runs only on this path).
  const { SecurityfsKernel } = await import('./securityfs/port.js');
  return new SecurityfsKernel({ securityfs: o.securityfs, stateDir: o.stateDir ?? DEFAULTS.stateDir });
}
