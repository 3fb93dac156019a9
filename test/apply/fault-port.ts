// A kernel port that fails one call (issue 16's fault injection): shared by the fault table over the sim
// (faults.test.ts) and the securityfs guest checks under qemu (test/qemu/guest/reliability.ts).

import { kernelError, type KernelPort } from '../../src/kernel/port.js';

export interface Fault {
  op: keyof KernelPort;
  /** Which call of op fails (1 = the first). */
  nth: number;
  errno: string;
  /** before: nothing happened; after: the kernel did it, then the call failed (a write cut after K bytes). */
  when: 'before' | 'after';
}

/** A port that fails one call as the fault says, and otherwise is the port it wraps. */
export function faultyPort(port: KernelPort, f: Fault): KernelPort {
  let calls = 0;
  const wrapped = Object.create(port) as KernelPort;
  const real = (port[f.op] as (...a: unknown[]) => Promise<unknown>).bind(port);
  (wrapped as unknown as Record<string, unknown>)[f.op] = async (...a: unknown[]) => {
    if (++calls !== f.nth) return real(...a);
    if (f.when === 'after') await real(...a);
    // What the call was about: a namespace, a pid, or for spawnTask the label it starts the task under.
    const what = typeof a[0] === 'object' && a[0] !== null ? String((a[0] as { execLabel?: string }).execLabel ?? '') : String(a[0] ?? '');
    throw kernelError(String(f.op), what, f.errno);
  };
  return wrapped;
}
