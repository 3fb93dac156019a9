// Picks the backend behind the kernel port and the runtime port beside it: the only place that knows both
// backends exist. Everything above receives the ports and asks them, never which one it has.

import type { CommonOptions } from '../config.js';
import { DEFAULTS } from '../config.js';
import type { KernelPort } from './port.js';
import type { RuntimePort } from './runtime.js';
import { SimKernel } from './sim/port.js';
import { SimRuntime } from './sim/runtime.js';
import type { BootParams } from './sim/model.js';

export interface KernelOptions extends Pick<CommonOptions, 'backend' | 'simState' | 'securityfs'> {
  /** Boot parameters for a new sim (from --lsm/--kernel); an existing sim must match them. */
  boot?: Partial<BootParams> | null;
  /** Where the securityfs backend caches compiled policy and the runtime port keeps its records (the default state dir when absent). */
  stateDir?: string;
}

export interface Backend {
  kernel: KernelPort;
  runtime: RuntimePort;
}

export async function openKernel(o: KernelOptions): Promise<KernelPort> {
  return (await openBackend(o)).kernel;
}

export async function openBackend(o: KernelOptions): Promise<Backend> {
  const stateDir = o.stateDir ?? DEFAULTS.stateDir;
  if (o.backend === 'sim') {
    const kernel = new SimKernel({ path: o.simState, boot: o.boot ?? null });
    return { kernel, runtime: new SimRuntime(kernel, stateDir, (id) => kernel.containerTask(id)) };
  }
  // Loaded only when asked for: it pulls in execa and the policy compiler, which the sim-backed hook never needs
  // (the bundles keep it, but its module code runs only on this path).
  const [{ SecurityfsKernel }, { OciRuntime }] = await Promise.all([import('./securityfs/port.js'), import('./securityfs/runtime.js')]);
  const kernel = new SecurityfsKernel({ securityfs: o.securityfs, stateDir });
  return { kernel, runtime: new OciRuntime(kernel, stateDir) };
}
