// The ports a node front door (hook, shim, agent) opens: the configured backend, or, when the backend is only
// the default on a host where AppArmor is enabled, a kernel port that refuses every operation (exit 3). Nothing
// reaches the kernel port for a container without lsmns annotations, so only annotated containers are refused.

import { nodeBackendRefusal, systemHost, type HostProbe, type ResolvedOptions } from '../config.js';
import { openBackend, type Backend } from '../kernel/factory.js';
import type { KernelPort } from '../kernel/port.js';

/** Answered as the port answers them: they only describe, and a refusal must still be able to say where. */
const DESCRIBING = new Set<string | symbol>(['describe']);

export async function openNodeBackend(o: ResolvedOptions, host: HostProbe = systemHost(o.securityfs)): Promise<Backend> {
  const b = await openBackend(o);
  const refusal = nodeBackendRefusal(o, host);
  if (!refusal) return b;
  const kernel = new Proxy(b.kernel, {
    get: (t, p) => {
      const v = (t as unknown as Record<string | symbol, unknown>)[p];
      if (typeof v !== 'function' || DESCRIBING.has(p)) return typeof v === 'function' ? v.bind(t) : v;
      return () => Promise.reject(refusal);
    },
  }) as KernelPort;
  return { kernel, runtime: b.runtime };
}
