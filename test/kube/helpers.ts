// Small helpers for the kube tests: polling for a condition, and pod objects shaped like the API's.

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function podObj(ns: string, name: string, o: { node?: string; annotations?: Record<string, string>; uid?: string; runtimeClassName?: string; containers?: string[] } = {}) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, uid: o.uid ?? `${ns}-${name}-0000-4000-8000-000000000000`.replace(/[^a-z0-9-]/g, ''), annotations: o.annotations ?? {} },
    spec: { nodeName: o.node ?? 'node-a', ...(o.runtimeClassName ? { runtimeClassName: o.runtimeClassName } : {}), containers: (o.containers ?? ['app']).map((c) => ({ name: c, image: 'app:1' })) },
    status: { phase: 'Pending' },
  };
}
