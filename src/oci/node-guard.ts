// The kernel port a node front door (hook, shim, agent) opens: the configured backend, or, when the backend is
// only the default on a host where AppArmor is enabled, a port that refuses every operation (exit 3). Nothing
// reaches the port for a container without lsmns annotations, so only annotated containers are refused.

import { nodeBackendRefusal, systemHost, type HostProbe, type ResolvedOptions } from '../config.js';
import { openKernel } from '../kernel/factory.js';
import type { KernelPort } from '../kernel/port.js';

export async function openNodeKernel(o: ResolvedOptions, host: HostProbe = systemHost(o.securityfs)): Promise<KernelPort> {
  const refusal = nodeBackendRefusal(o, host);
  if (!refusal) return openKernel(o);
  const known = { backend: o.backend, where: `refused (${refusal.code})` };
  return new Proxy(known as KernelPort, {
    get: (t, p) => (p in t ? (t as unknown as Record<string | symbol, unknown>)[p] : p === 'then' ? undefined : () => Promise.reject(refusal)),
  });
}
