// Picks the backend behind the kernel port. The only place that knows both exist.

import { ExitCode, LsmnsError } from '../errors.js';
import type { CommonOptions } from '../config.js';
import type { KernelPort } from './port.js';
import { SimKernel } from './sim/port.js';
import type { BootParams } from './sim/model.js';

export interface KernelOptions extends Pick<CommonOptions, 'backend' | 'simState' | 'securityfs'> {
  /** Boot parameters for a new sim (from --lsm/--kernel); an existing sim must match them. */
  boot?: Partial<BootParams> | null;
}

export async function openKernel(o: KernelOptions): Promise<KernelPort> {
  if (o.backend === 'sim') return new SimKernel({ path: o.simState, boot: o.boot ?? null });
  throw new LsmnsError({
    code: 'BackendUnavailable',
    exitCode: ExitCode.NotPossible,
    message: `the securityfs backend (${o.securityfs}) is not part of this build yet`,
    remedy: 'use --backend sim (the default)',
  });
}
