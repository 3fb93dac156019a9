// A plan request from one container as a runtime sees it: config.json's annotations (with the CRI's pod
// identity, KERNEL-FACTS B7) and, when a hook runs, the OCI state. Pure; the OCI shapes stay on this side.

import type { Problem } from '../errors.js';
import { checkId, DNS_LABEL, DNS_SUBDOMAIN, hostBoundOf, UID, type ContainerInput, type PlanRequest, type RequestOptions } from '../plan/request.js';
import type { OciConfig, OciState } from './spec.js';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,1023}$/;

/** CRI annotations that carry pod identity into config.json (KERNEL-FACTS B7). */
export const CriKeys = {
  containerType: ['io.kubernetes.cri.container-type', 'io.kubernetes.cri-o.ContainerType'],
  sandboxId: ['io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri-o.SandboxID'],
  podUid: ['io.kubernetes.cri.sandbox-uid', 'io.kubernetes.pod.uid'],
  podName: ['io.kubernetes.cri.sandbox-name', 'io.kubernetes.pod.name'],
  podNamespace: ['io.kubernetes.cri.sandbox-namespace', 'io.kubernetes.pod.namespace'],
  containerName: ['io.kubernetes.cri.container-name', 'io.kubernetes.container.name'],
} as const;

function pick(ann: Record<string, string> | undefined, keys: readonly string[]): { key: string; value: string } | null {
  if (!ann) return null;
  for (const k of keys) if (typeof ann[k] === 'string') return { key: k, value: ann[k]! };
  return null;
}

/** One container of a pod, as a runtime sees it: config.json annotations, plus the OCI state when a hook runs. */
export function requestFromBundle(config: OciConfig, where: { kind: 'bundle' | 'state'; ref: string }, state: OciState | null, opts: RequestOptions): PlanRequest {
  const problems: Problem[] = [];
  // The state's annotations are the config's; config.json is read for the profile and is authoritative.
  const ann = { ...(state?.annotations ?? {}), ...(config.annotations ?? {}) };
  const type = pick(ann, CriKeys.containerType)?.value;
  const role: ContainerInput['role'] = type === 'sandbox' ? 'sandbox' : 'app';
  const podNamespace = checkId(pick(ann, CriKeys.podNamespace), DNS_LABEL, 'Kubernetes namespace (DNS-1123 label)', 'team-a', problems);
  const uid = checkId(pick(ann, CriKeys.podUid), UID, 'pod UID', '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f', problems);
  const podName = checkId(pick(ann, CriKeys.podName), DNS_SUBDOMAIN, 'pod name', 'web-0', problems);
  const sandboxId = checkId(pick(ann, CriKeys.sandboxId), CONTAINER_ID, 'sandbox id', 'a 64-hex-digit id', problems);
  const containerId = state ? checkId({ key: 'state.id', value: state.id }, CONTAINER_ID, 'container id', 'web-1', problems) : null;
  const cname = pick(ann, CriKeys.containerName)?.value;
  const name = role === 'sandbox' ? 'sandbox' : cname && DNS_LABEL.test(cname) ? cname : (containerId ?? 'container');
  return {
    source: where,
    annotations: ann,
    pod: { name: podName, namespace: podNamespace, uid },
    sandboxId,
    containerId,
    containers: [{ name, role, hostProfile: hostBoundOf(config.process?.apparmorProfile, 'process.apparmorProfile') }],
    wholePod: false,
    delivery: opts.delivery ?? 'shim',
    problems,
  };
}
