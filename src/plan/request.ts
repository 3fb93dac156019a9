// What the planner is asked: the pod's annotations, its identity and its containers with the AppArmor
// profile the runtime or the pod already assigns. Built here from a Pod, and by oci/request.ts from a bundle (pure).

import type { Problem } from '../errors.js';
import type { Pod } from '../schema/pod.js';
import { escapeValue } from '../schema/names.js';
import { BETA_APPARMOR_PREFIX } from '../schema/keys.js';
import type { Delivery } from './types.js';

export interface ContainerInput {
  name: string;
  role: 'app' | 'sandbox';
  /** The profile already assigned to the container, which becomes the host bound. */
  hostProfile: { value: string; from: string } | null;
}

export interface PlanRequest {
  source: { kind: 'pod' | 'bundle' | 'state'; ref: string };
  annotations: Record<string, unknown>;
  pod: { name: string | null; namespace: string | null; uid: string | null };
  sandboxId: string | null;
  containerId: string | null;
  containers: ContainerInput[];
  /** True when every container of the pod is known, so per-container overrides can be checked against them. */
  wholePod: boolean;
  delivery: Delivery;
  /** Problems found while reading identity and profiles (exit 2), merged into the plan's problems. */
  problems: Problem[];
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
export const UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

/** The runtime default profile names (containerd and CRI-O), used when a pod asks for RuntimeDefault. */
export const RUNTIME_DEFAULT_PROFILE: Record<Delivery, string> = { shim: 'cri-containerd.apparmor.d', field: 'crio-default' };

export function checkId(found: { key: string; value: string } | null, re: RegExp, what: string, example: string, problems: Problem[]): string | null {
  if (!found) return null;
  if (re.test(found.value)) return found.value;
  problems.push({ key: found.key, value: escapeValue(found.value), rule: `not a valid ${what}`, example });
  return null;
}

/**
 * A profile already set on the container. "unconfined" and empty mean no host bound. A label that is
 * already an lsmns stack (a re-run after the shim) keeps only its host part, so planning is idempotent.
 */
export function hostBoundOf(value: string | undefined | null, from: string): ContainerInput['hostProfile'] {
  if (value === undefined || value === null || value === '' || value === 'unconfined') return null;
  if (value.startsWith('&:') || value.startsWith(':')) return null;
  const i = value.indexOf('//&:');
  if (i > 0) return { value: value.slice(0, i), from: `${from} (host part of an existing stack)` };
  return { value, from };
}

type AppArmorProfile = { type: 'RuntimeDefault' | 'Unconfined' | 'Localhost'; localhostProfile?: string | undefined } | null | undefined;

function podHostProfile(pod: Pod, name: string, field: string, runtimeDefault: string, problems: Problem[]): ContainerInput['hostProfile'] {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const c = all.find((x) => x.name === name);
  const own: AppArmorProfile = c?.securityContext?.appArmorProfile;
  const podLevel: AppArmorProfile = pod.spec.securityContext?.appArmorProfile;
  const prof = own ?? podLevel;
  const from = own ? `${field}.securityContext.appArmorProfile` : 'spec.securityContext.appArmorProfile';
  if (prof) {
    if (prof.type === 'Unconfined') return null;
    if (prof.type === 'RuntimeDefault') return { value: runtimeDefault, from: `${from} (RuntimeDefault)` };
    if (!prof.localhostProfile) {
      problems.push({ key: `${from}.localhostProfile`, value: '(absent)', rule: 'a Localhost profile needs localhostProfile', example: 'localhostProfile: my-host-profile' });
      return null;
    }
    return hostBoundOf(prof.localhostProfile, `${from}.localhostProfile`);
  }
  const beta = pod.metadata.annotations?.[BETA_APPARMOR_PREFIX + name];
  if (beta === undefined) return null;
  const key = `metadata.annotations[${BETA_APPARMOR_PREFIX}${name}]`;
  if (beta === 'runtime/default') return { value: runtimeDefault, from: `${key} (runtime/default)` };
  if (beta === 'unconfined') return null;
  if (beta.startsWith('localhost/')) return hostBoundOf(beta.slice('localhost/'.length), key);
  problems.push({ key, value: escapeValue(beta), rule: 'must be runtime/default, unconfined or localhost/<profile>', example: 'localhost/my-host-profile' });
  return null;
}

export interface RequestOptions {
  delivery?: Delivery;
  runtimeDefaultProfile?: string;
}

export function requestFromPod(pod: Pod, ref: string, opts: RequestOptions): PlanRequest {
  const delivery = opts.delivery ?? 'shim';
  const runtimeDefault = opts.runtimeDefaultProfile ?? RUNTIME_DEFAULT_PROFILE[delivery];
  const problems: Problem[] = [];
  const md = pod.metadata;
  const namespace = checkId(md.namespace === undefined ? null : { key: 'metadata.namespace', value: md.namespace }, DNS_LABEL, 'Kubernetes namespace (DNS-1123 label)', 'team-a', problems);
  const uid = checkId(md.uid === undefined ? null : { key: 'metadata.uid', value: md.uid }, UID, 'pod UID', '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f', problems);
  const name = checkId(md.name === undefined ? null : { key: 'metadata.name', value: md.name }, DNS_SUBDOMAIN, 'pod name (DNS-1123 subdomain)', 'web-0', problems);
  const containers: ContainerInput[] = [];
  (pod.spec.initContainers ?? []).forEach((c, i) => containers.push({ name: c.name, role: 'app', hostProfile: podHostProfile(pod, c.name, `spec.initContainers[${i}]`, runtimeDefault, problems) }));
  pod.spec.containers.forEach((c, i) => containers.push({ name: c.name, role: 'app', hostProfile: podHostProfile(pod, c.name, `spec.containers[${i}]`, runtimeDefault, problems) }));
  return {
    source: { kind: 'pod', ref },
    annotations: md.annotations ?? {},
    pod: { name, namespace: namespace ?? (md.namespace === undefined ? 'default' : null), uid },
    sandboxId: null,
    containerId: null,
    containers,
    wholePod: true,
    delivery,
    problems,
  };
}
