// The pods the node agent keeps: only those bound to its node (field selector spec.nodeName), and of each only
// the few fields it plans, checks and reports on, so that its memory follows its own node, not the cluster.

import type { KubeApi, KubeObject } from '../../kube/client.js';
import { Informer, type InformerHandlers, type InformerHooks, type Logger } from '../../kube/informer.js';
import type { OwnerRecord } from '../../apply/ownership.js';
import type { Liveness } from '../../apply/gc.js';
import { lsmnsAnnotations } from '../../schema/annotations.js';
import { BETA_APPARMOR_PREFIX, isLsmnsKey } from '../../schema/keys.js';

export interface ContainerState { name: string; id: string | null; running: boolean }

/** What the agent keeps of a pod on its node. */
export interface NodePod {
  key: string;
  rv: string;
  uid: string;
  namespace: string;
  name: string;
  deleting: boolean;
  /** The lsmns.io/ annotations, as JSON, to spot drift cheaply. */
  digest: string;
  /** Just enough of the pod to plan it: lsmns and AppArmor annotations, container names and profiles. */
  pod: KubeObject;
  containers: ContainerState[];
}

type Container = Record<string, unknown> & { securityContext?: { appArmorProfile?: unknown } };
type Status = { name: string; containerID?: string; state?: { running?: unknown } };

export function projectPod(o: KubeObject): NodePod {
  const md = o.metadata ?? {};
  const spec = (o.spec ?? {}) as { containers?: Container[]; initContainers?: Container[]; securityContext?: { appArmorProfile?: unknown }; runtimeClassName?: string };
  const slimC = (c: Container) => ({ name: c.name, securityContext: c.securityContext?.appArmorProfile ? { appArmorProfile: c.securityContext.appArmorProfile } : undefined });
  const ann = md.annotations ?? {};
  const keep: Record<string, string> = {};
  for (const [k, v] of Object.entries(ann)) if (isLsmnsKey(k) || k.startsWith(BETA_APPARMOR_PREFIX)) keep[k] = v;
  const status = (o.status ?? {}) as { containerStatuses?: Status[]; initContainerStatuses?: Status[] };
  const cs = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])].map((c) => ({ name: c.name, id: c.containerID ?? null, running: Boolean(c.state?.running) }));
  return {
    key: `${md.namespace}/${md.name}`, rv: md.resourceVersion ?? '', uid: md.uid ?? '', namespace: md.namespace ?? '', name: md.name ?? '',
    deleting: Boolean(md.deletionTimestamp), digest: JSON.stringify(lsmnsAnnotations(ann)),
    pod: {
      metadata: { name: md.name, namespace: md.namespace, uid: md.uid, annotations: keep },
      spec: { runtimeClassName: spec.runtimeClassName, containers: (spec.containers ?? []).map(slimC), initContainers: (spec.initContainers ?? []).map(slimC), securityContext: spec.securityContext?.appArmorProfile ? { appArmorProfile: spec.securityContext.appArmorProfile } : undefined },
    },
    containers: cs,
  };
}

export function podInformer(o: { api: KubeApi; nodeName: string; hooks: InformerHooks; logger: Logger; watchdogMs?: number; handlers: InformerHandlers<NodePod> }): Informer<NodePod> {
  return new Informer<NodePod>({
    api: o.api, path: '/api/v1/pods', resource: 'pods', fieldSelector: `spec.nodeName=${o.nodeName}`, hooks: o.hooks, logger: o.logger, watchdogMs: o.watchdogMs,
    project: projectPod, keyOf: (p) => p.key, versionOf: (p) => p.rv, handlers: o.handlers,
  });
}

/**
 * GC's liveness with --node: a Kubernetes pod's namespace lives while the pod is on this node (by uid); any
 * other marker (a container started outside Kubernetes) is judged by what the marker holds. Null while the
 * informer has not listed: nothing can be judged dead yet.
 */
export function podLiveness(pods: Informer<NodePod>, nodeName: string, other: (rec: OwnerRecord) => Liveness): ((rec: OwnerRecord) => Liveness) | null {
  if (!pods.synced) return null;
  return (rec) => {
    if (!rec.podKey.startsWith('uid:')) return other(rec);
    const uid = rec.podKey.slice(4);
    for (const p of pods.cache.values()) if (p.uid === uid) return { live: true };
    return { live: false, why: `its pod (uid ${uid}) is gone from node ${nodeName}` };
  };
}
