// The node agent's Kubernetes side (SPEC §3, `lsmns agent --node`), as a library with start/stop. It runs one
// serialised pass over the pods of its node whenever an informer changes (and every resyncMs): it records the
// Events the ownership markers and the node's plan call for, reports annotation drift on running pods as
// RestartRequired, checks lsmns.io/Confined and syncs the policies the pods reference. Its jobs live beside it
// (pods, confined, policy-sync, node-facts); GC is the agent's, which asks `liveness()` here.

import { setTimeout as sleep } from 'node:timers/promises';
import type { OwnershipStore, OwnerRecord } from '../../apply/ownership.js';
import { livenessFromMarker, type Liveness } from '../../apply/gc.js';
import type { KernelPort } from '../../kernel/port.js';
import type { NodeFacts } from '../../kernel/facts.js';
import { DEFAULT_RUNTIME_CLASS, ENABLED_LABEL } from '../../kube/admission.js';
import type { KubeApi } from '../../kube/client.js';
import { EventRecorder, type EventReason } from '../../kube/events.js';
import { Informer, type Logger } from '../../kube/informer.js';
import { KubeMetrics } from '../../kube/metrics.js';
import { plan } from '../../plan/planner.js';
import { requestFromPod } from '../../plan/request.js';
import type { Plan } from '../../plan/types.js';
import type { PolicySource } from '../../policy/store.js';
import { readSpec } from '../../schema/annotations.js';
import { checkPod } from '../../schema/pod.js';
import { ConfinedCheck } from './confined.js';
import { publishNodeFacts } from './node-facts.js';
import { podInformer, podLiveness, type NodePod } from './pods.js';
import { PolicySync, policyMapInformer, wantedPolicy, type PolicyMap, type WantedPolicy } from './policy-sync.js';

/** The rest after a pass before the next may start: as long as the pass took, within these bounds. */
const MIN_REST_MS = 20;
const MAX_REST_MS = 1000;

export interface NodeAgentOptions {
  api: KubeApi;
  nodeName: string;
  /** lsmns's own namespace: ConfigMaps there are the cluster/ policies. */
  lsmnsNamespace: string;
  port: KernelPort;
  owners: OwnershipStore;
  policyDir: string;
  logger: Logger;
  metrics?: KubeMetrics;
  resyncMs?: number;
  watchdogMs?: number;
  /** The paths whose presence says the hook client and the shim front are installed. */
  installed?: { hook: string; shim: string };
  /** Whether a runtime handler `lsmns` is configured (label lsmns.io/runtime-handler, RuntimeClass scheduling). */
  handlerConfigured?: () => boolean;
  /** Compiles a synced policy ahead of the container start (the securityfs backend's cache), so that the hook only loads. */
  precompile?: (policy: PolicySource) => Promise<void>;
  /** The init pid of a container, from its CRI id ("containerd://<id>"); default: a /proc cgroup scan. */
  resolvePid: (containerId: string) => Promise<number | null>;
  now?: () => number;
}

export class NodeAgent {
  readonly metrics: KubeMetrics;
  readonly pods: Informer<NodePod>;
  readonly namespaces: Informer<{ name: string; rv: string }>;
  readonly configMaps: Informer<PolicyMap>;
  private readonly events: EventRecorder;
  private readonly confined: ConfinedCheck;
  private readonly policies: PolicySync;
  private facts: NodeFacts | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> | null = null;
  private again = false;
  /** When the next pass may start (performance.now()): the rest after the last. */
  private restUntil = 0;
  private stopped = true;
  /** Once-only bookkeeping, keyed by pod uid; cleared when the pod goes. */
  private readonly said = new Map<string, Set<string>>();
  private readonly runningDigest = new Map<string, string>();
  private readonly o: NodeAgentOptions & Required<Pick<NodeAgentOptions, 'resyncMs' | 'now'>>;

  constructor(o: NodeAgentOptions) {
    this.o = { resyncMs: 10_000, now: Date.now, ...o };
    this.metrics = o.metrics ?? new KubeMetrics('agent');
    const hooks = this.metrics.informerHooks();
    const kick = () => this.kick();
    this.pods = podInformer({ api: o.api, nodeName: o.nodeName, hooks, logger: o.logger, watchdogMs: o.watchdogMs, handlers: { add: kick, update: (a, p) => { this.noteDrift(a, p); kick(); }, delete: kick } });
    this.namespaces = new Informer({
      api: o.api, path: '/api/v1/namespaces', resource: 'namespaces', labelSelector: `${ENABLED_LABEL}=true`, hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: (x) => ({ name: x.metadata?.name ?? '', rv: x.metadata?.resourceVersion ?? '' }), keyOf: (n) => n.name, versionOf: (n) => n.rv,
      handlers: { add: kick, update: kick, delete: kick },
    });
    // Only which policies a ConfigMap offers is kept; the text is fetched when a local pod needs it.
    this.configMaps = policyMapInformer({ api: o.api, hooks, logger: o.logger, watchdogMs: o.watchdogMs, kick });
    this.events = new EventRecorder({ api: o.api, component: 'lsmns-agent', host: o.nodeName, logger: o.logger, onRecorded: (reason, type) => this.metrics.events.inc({ reason, type }) });
    this.confined = new ConfinedCheck({
      api: o.api, port: o.port, resolvePid: o.resolvePid, now: this.o.now, event: (p, reason, message, key) => this.event(p, reason, message, key),
      readFailed: (p, container, pid, err) => {
        this.metrics.podCheckErrors.inc({ check: 'label-read' });
        this.o.logger.warn({ event: 'confined-read-failed', pod: `${p.namespace}/${p.name}`, container, pid, err: err.message }, 'could not read a container\'s label: the pod is skipped in this pass and judged again on the next');
      },
    });
    this.policies = new PolicySync({ api: o.api, policyDir: o.policyDir, nodeName: o.nodeName, logger: o.logger, configMaps: this.configMaps, precompile: o.precompile });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.facts = await this.o.port.probe();
    // stop() may be called while start() waits: nothing may start after it.
    if (this.stopped) return;
    this.pods.start();
    this.namespaces.start();
    this.configMaps.start();
    await Promise.all([this.pods.waitForSync(), this.namespaces.waitForSync(), this.configMaps.waitForSync()]);
    if (this.stopped) return;
    await this.publishNodeFacts();
    if (this.stopped) return;
    this.timer = setInterval(() => this.kick(), this.o.resyncMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([this.pods.stop(), this.namespaces.stop(), this.configMaps.stop()]);
    while (this.pending) await this.pending;
  }

  notReady(): string | null {
    return this.pods.synced && this.namespaces.synced && this.configMaps.synced ? null : 'informers have not listed yet';
  }

  /** GC's liveness: a Kubernetes pod's namespace lives while the pod is on this node; null before the first list. */
  liveness(): ((rec: OwnerRecord) => Liveness) | null {
    return podLiveness(this.pods, this.o.nodeName, livenessFromMarker);
  }

  /** Runs one pass now (tests and benchmarks); resolves when it is done. */
  async syncNow(): Promise<void> {
    this.kick();
    while (this.pending) await this.pending;
  }

  /** Node facts as labels (for scheduling) and one annotation (for people and tools). */
  async publishNodeFacts(): Promise<void> {
    await publishNodeFacts({ api: this.o.api, nodeName: this.o.nodeName, facts: this.facts!, installed: this.o.installed, handlerConfigured: this.o.handlerConfigured });
  }

  private kick(): void {
    // Informers call back while they list, in any order: a pass before the namespaces have listed sees no pod opted
    // in and would remove the policies running pods use. start() kicks once all three have listed.
    if (this.stopped || this.notReady()) return;
    if (this.pending) { this.again = true; return; }
    this.pending = (async () => {
      do {
        // In a burst every informer event asks for another pass; run back to back, the passes would take the whole
        // process and starve the served hooks, which must answer within the client's 8 s. A pass starts only after
        // a rest as long as the last one took (within bounds), so passes never take more than half of the agent's time.
        const rest = this.restUntil - performance.now();
        if (rest > 0) await sleep(rest);
        if (this.stopped) break;
        this.again = false;
        const end = this.metrics.reconcileSeconds.startTimer();
        try {
          await this.pass();
          this.metrics.reconciles.inc({ result: 'ok' });
        } catch (e) {
          this.metrics.reconciles.inc({ result: 'error' });
          this.o.logger.warn({ err: (e as Error).message }, 'node agent pass failed');
        }
        this.restUntil = performance.now() + Math.min(MAX_REST_MS, Math.max(MIN_REST_MS, end() * 1000));
      } while (this.again && !this.stopped);
    })().finally(() => { this.pending = null; });
  }

  private once(uid: string, what: string): boolean {
    let s = this.said.get(uid);
    if (!s) this.said.set(uid, (s = new Set()));
    if (s.has(what)) return false;
    s.add(what);
    return true;
  }

  private async event(p: NodePod, reason: EventReason, message: string, onceKey: string = reason): Promise<void> {
    if (this.once(p.uid, onceKey)) await this.events.record({ namespace: p.namespace, name: p.name, uid: p.uid }, reason, message);
  }

  /** Annotations changed on a pod whose containers run: never re-label a live container (SPEC §3). */
  private noteDrift(old: NodePod, p: NodePod): void {
    const was = this.runningDigest.get(p.uid);
    if (was === undefined || was === p.digest || old.digest === p.digest) return;
    void this.event(p, 'RestartRequired', `lsmns.io/ annotations changed on a running pod (from ${was} to ${p.digest}); lsmns never re-labels a live container. Remedy: delete the pod, or roll its workload, to apply them`, `RestartRequired ${p.digest}`);
  }

  private enabled(p: NodePod): boolean {
    return this.namespaces.cache.has(p.namespace);
  }

  private planOf(p: NodePod): Plan | null {
    const doc = checkPod(p.pod, p.key);
    if (!doc.pod) return null;
    const delivery = (p.pod.spec as { runtimeClassName?: string }).runtimeClassName === DEFAULT_RUNTIME_CLASS ? 'shim' : 'field';
    return plan(requestFromPod(doc.pod, p.key, { delivery }), this.facts!);
  }

  private async pass(): Promise<void> {
    const local = [...this.pods.cache.values()];
    const live = new Set(local.map((p) => p.uid));
    for (const uid of [...this.said.keys()]) if (!live.has(uid)) { this.said.delete(uid); this.runningDigest.delete(uid); this.confined.forget(uid); }
    const wanted = new Map<string, WantedPolicy>();
    const markers = new Map(this.o.owners.list().map((r) => [r.podKey, r]));
    for (const p of local) {
      try {
        await this.passPod(p, wanted, markers);
      } catch (e) {
        // One pod's failure (an API call, a label read) skips that pod only; the others and the policy sync go on.
        this.metrics.podCheckErrors.inc({ check: 'pod' });
        this.o.logger.warn({ event: 'pod-check-failed', pod: `${p.namespace}/${p.name}`, err: (e as Error).message }, 'node agent pass: pod skipped, judged again on the next pass');
      }
    }
    await this.policies.sync(wanted);
  }

  private async passPod(p: NodePod, wanted: Map<string, WantedPolicy>, markers: Map<string, OwnerRecord>): Promise<void> {
    if (!this.enabled(p) || readSpec(p.pod.metadata?.annotations).status !== 'ok') return;
    if (p.containers.some((c) => c.running) && !this.runningDigest.has(p.uid)) this.runningDigest.set(p.uid, p.digest);
    const pl = this.planOf(p);
    if (!pl || pl.outcome === 'invalid') return;
    if (pl.outcome === 'infeasible') {
      await this.event(p, 'NotPossibleOnNode', `not possible on node ${this.o.nodeName}: ${pl.blockers.map((b) => `${b.code}: ${b.message} (remedy: ${b.remedy})`).join('; ')}`);
      return;
    }
    const pol = pl.input.spec?.policy;
    if (pol) wanted.set(...wantedPolicy(pol.ref, pol.scope, p.namespace, this.o.lsmnsNamespace));
    const rec = markers.get(pl.input.podKey);
    if (rec && rec.state === 'ready') {
      await this.event(p, 'NamespaceCreated', `AppArmor policy namespace ${rec.namespace} created for the pod on node ${this.o.nodeName}`);
      if (rec.policy) await this.event(p, 'PolicyLoaded', `policy ${rec.policy.ref} (${rec.policy.digest.slice(0, 19)}) loaded into :${rec.namespace}: with profiles ${rec.policy.profiles.join(', ') || '(none)'}`);
    }
    await this.confined.check(p, pl);
  }
}
