// Small helpers for the kube tests: pod objects shaped like the API's, and JSON patches applied to them.

export function podObj(ns: string, name: string, o: { node?: string; annotations?: Record<string, string>; uid?: string; runtimeClassName?: string; containers?: string[] } = {}) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, uid: o.uid ?? `${ns}-${name}-0000-4000-8000-000000000000`.replace(/[^a-z0-9-]/g, ''), annotations: o.annotations ?? {} },
    spec: { nodeName: o.node ?? 'node-a', ...(o.runtimeClassName ? { runtimeClassName: o.runtimeClassName } : {}), containers: (o.containers ?? ['app']).map((c) => ({ name: c, image: 'app:1' })) },
    status: { phase: 'Pending' },
  };
}

/** RFC 6902 add/replace, enough to apply the webhook's patches to the reviewed object and read the result. */
export function applyJsonPatch<T>(doc: T, ops: { op: string; path: string; value: unknown }[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let cur = out as Record<string, unknown>;
    for (const p of parts) {
      if (cur[p] === undefined) throw new Error(`patch path ${op.path}: ${p} does not exist`);
      cur = cur[p] as Record<string, unknown>;
    }
    if (op.op === 'replace' && !(last in cur)) throw new Error(`replace ${op.path}: no such member`);
    if (op.op !== 'add' && op.op !== 'replace') throw new Error(`unexpected op ${op.op}`);
    if (Array.isArray(cur) && last === '-') (cur as unknown[]).push(op.value);
    else cur[last] = op.value;
  }
  return out as T;
}
