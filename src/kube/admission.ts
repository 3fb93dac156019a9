// The mutating admission decision (SPEC §3), pure: AdmissionReview v1 in, AdmissionReview v1 out with a
// base64 JSONPatch. Annotations are validated by the planner, so a denial carries the CLI's own messages.
//  - shim: set spec.runtimeClassName to the lsmns RuntimeClass; a pod naming another is denied.
//  - field: set each container's securityContext.appArmorProfile to the planned Localhost label (CRI-O only);
//    an existing profile becomes the label's host bound, so it is kept, never replaced.

import { formatProblem } from '../schema/annotations.js';
import { confusableKeys } from '../schema/confusable.js';
import { BETA_APPARMOR_PREFIX, hasLsmnsAnnotations } from '../schema/keys.js';
import { escapeValue } from '../schema/names.js';
import { checkPod } from '../schema/pod.js';
import { plan } from '../plan/planner.js';
import { DELIVERIES, type Delivery } from '../plan/types.js';
import { requestFromPod } from '../plan/request.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM, simulatedFacts, type NodeFacts } from '../kernel/facts.js';

/** The plan's own words; "runtimeclass", this flag's and label's old word for "shim", is still read as it. */
export const LABEL_DELIVERY_MODES = DELIVERIES;
export type LabelDelivery = Delivery;

/** A delivery mode as a user writes it (flag, namespace label), or null when it is not one. */
export function deliveryFrom(v: string | undefined): Delivery | null {
  if (v === 'runtimeclass') return 'shim';
  return (DELIVERIES as readonly string[]).includes(v ?? '') ? v as Delivery : null;
}
/** The namespace label that overrides the controller's --label-delivery for one namespace. */
export const NAMESPACE_DELIVERY_LABEL = 'lsmns.io/label-delivery';
export const ENABLED_LABEL = 'lsmns.io/enabled';
export const DEFAULT_RUNTIME_CLASS = 'lsmns';

export interface AdmissionRequest {
  uid: string;
  kind?: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  namespace?: string;
  name?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

export interface AdmissionOptions {
  mode: LabelDelivery;
  runtimeClass: string;
  /** Facts used for planning at admission: the node is not chosen yet, so feasibility is checked by the hook. */
  facts?: NodeFacts;
}

export type Decision =
  | { result: 'allowed'; patch: PatchOp[]; warnings: string[] }
  | { result: 'denied'; code: number; reason: string; message: string };

/** Reads a namespace's delivery mode override; a wrong value is reported, and the controller default applies. */
export function namespaceDelivery(labels: Record<string, string> | undefined, fallback: LabelDelivery): { mode: LabelDelivery; problem: string | null } {
  const v = labels?.[NAMESPACE_DELIVERY_LABEL];
  if (v === undefined) return { mode: fallback, problem: null };
  const mode = deliveryFrom(v);
  if (mode) return { mode, problem: null };
  return { mode: fallback, problem: `namespace label ${NAMESPACE_DELIVERY_LABEL}=${JSON.stringify(v)} is not shim or field; using ${fallback}` };
}

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/** A capable node: at admission the node is unknown, and the hook checks the real one before anything runs. */
export function admissionFacts(): NodeFacts {
  return simulatedFacts({ lsm: DEFAULT_SIM_LSM, kernel: DEFAULT_SIM_KERNEL, display: null });
}

export function decide(req: AdmissionRequest, o: AdmissionOptions): Decision {
  const allow = (patch: PatchOp[] = [], warnings: string[] = []): Decision => ({ result: 'allowed', patch, warnings });
  if (req.operation !== undefined && req.operation !== 'CREATE') return allow(); // AppArmor settings cannot change on update
  if (req.resource && (req.resource.resource !== 'pods' || (req.subResource ?? '') !== '')) return allow();
  const obj = req.object as { metadata?: { annotations?: Record<string, string>; namespace?: string; name?: string; generateName?: string } } | undefined;
  // In an opted-in namespace (the webhook's namespaceSelector), a key that only looks like an lsmns key is
  // refused: the pod meant to be confined, and would run unconfined without a word.
  const lookalikes = confusableKeys(obj?.metadata?.annotations);
  if (lookalikes.length > 0) {
    return {
      result: 'denied', code: 400, reason: 'InvalidAnnotation',
      message: `lsmns: pod ${obj?.metadata?.namespace ?? req.namespace ?? '?'}/${obj?.metadata?.name ?? req.name ?? '<generated>'}: annotation key${lookalikes.length > 1 ? 's' : ''} ${lookalikes.slice(0, 5).map((k) => escapeValue(k, 120)).join(', ')} only look${lookalikes.length > 1 ? '' : 's'} like lsmns keys (lookalike characters), so lsmns would ignore them and the pod would run unconfined. Remedy: write the key as lsmns.io/... or container.lsmns.io/... in plain ASCII, or rename it`,
    };
  }
  if (!hasLsmnsAnnotations(obj?.metadata?.annotations)) return allow();
  // The object at CREATE may lack its namespace (taken from the URL) and its name (generateName).
  const withNs = { ...obj, metadata: { ...obj?.metadata, namespace: obj?.metadata?.namespace ?? req.namespace, name: obj?.metadata?.name ?? req.name ?? undefined } };
  const where = `pod ${withNs.metadata.namespace ?? '?'}/${withNs.metadata.name ?? `${obj?.metadata?.generateName ?? ''}<generated>`}`;
  const doc = checkPod(withNs, 'request.object');
  if (!doc.pod) return { result: 'denied', code: 400, reason: 'BadRequest', message: `lsmns: ${where}: ${doc.problems.map(formatProblem).join('; ')}` };
  const pod = doc.pod;
  const request = requestFromPod(pod, where, { delivery: o.mode });
  const p = plan(request, o.facts ?? admissionFacts());
  if (p.outcome === 'invalid') {
    return { result: 'denied', code: 400, reason: 'InvalidAnnotation', message: `lsmns: ${where}: invalid lsmns input; nothing was admitted:\n${p.problems.map((x) => `  error: ${formatProblem(x)}`).join('\n')}` };
  }
  if (o.mode === 'shim') {
    const rc = (pod.spec as { runtimeClassName?: unknown }).runtimeClassName;
    if (rc === undefined || rc === null || rc === '') return allow([{ op: 'add', path: '/spec/runtimeClassName', value: o.runtimeClass }]);
    if (rc === o.runtimeClass) return allow();
    return {
      result: 'denied', code: 403, reason: 'RuntimeClassConflict',
      message: `lsmns: ${where} names runtimeClassName ${JSON.stringify(rc)}, but its lsmns.io/ annotations need the RuntimeClass ${JSON.stringify(o.runtimeClass)}, whose handler runs the lsmns shim that applies the AppArmor label (label delivery "shim"); lsmns does not change a RuntimeClass the pod chose. Remedy: remove spec.runtimeClassName (lsmns sets it), or remove the lsmns.io/ annotations, or on CRI-O nodes label the namespace ${NAMESPACE_DELIVERY_LABEL}=field`,
    };
  }
  const patch: PatchOp[] = [];
  const warnings: string[] = [];
  const byName = new Map(p.containers.map((c) => [c.name, c]));
  const lists: ['initContainers' | 'containers', typeof pod.spec.containers][] = [['initContainers', pod.spec.initContainers ?? []], ['containers', pod.spec.containers]];
  const annotations = pod.metadata.annotations ?? {};
  for (const [list, cs] of lists) {
    cs.forEach((c, i) => {
      const cp = byName.get(c.name);
      if (!cp?.label) return;
      const profile = { type: 'Localhost', localhostProfile: cp.label };
      if (c.securityContext) patch.push({ op: 'add', path: `/spec/${list}/${i}/securityContext/appArmorProfile`, value: profile });
      else patch.push({ op: 'add', path: `/spec/${list}/${i}/securityContext`, value: { appArmorProfile: profile } });
      // Kubernetes 1.24-1.29 read only the beta annotation (and drop the unknown field): keep both in step.
      const betaKey = BETA_APPARMOR_PREFIX + c.name;
      patch.push({ op: annotations[betaKey] === undefined ? 'add' : 'replace', path: `/metadata/annotations/${esc(betaKey)}`, value: `localhost/${cp.label}` });
      if (cp.hostProfile) warnings.push(`lsmns: container ${c.name}: its AppArmor profile ${cp.hostProfile} is kept as the host bound of ${cp.label}`);
    });
  }
  return allow(patch, warnings);
}

/** The full AdmissionReview answer; a malformed review is refused with a message, never allowed blindly. */
export function review(body: unknown, o: AdmissionOptions): { review: AdmissionReview; decision: Decision | null } {
  const b = body as Partial<AdmissionReview> | null;
  const req = b?.request;
  if (!b || b.apiVersion !== 'admission.k8s.io/v1' || b.kind !== 'AdmissionReview' || !req || typeof req.uid !== 'string') {
    return {
      review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: typeof req?.uid === 'string' ? req.uid : '', allowed: false, status: { code: 400, reason: 'BadRequest', message: 'lsmns: expected an admission.k8s.io/v1 AdmissionReview with request.uid; set admissionReviewVersions: ["v1"] in the webhook configuration' } } },
      decision: null,
    };
  }
  const d = decide(req, o);
  const response: AdmissionResponse = d.result === 'denied'
    ? { uid: req.uid, allowed: false, status: { code: d.code, reason: d.reason, message: d.message } }
    : { uid: req.uid, allowed: true, ...(d.patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(d.patch)).toString('base64') } : {}), ...(d.warnings.length > 0 ? { warnings: d.warnings } : {}) };
  return { review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, decision: d };
}
