// The node agent's Kubernetes side (SPEC §3), as a library with start/stop. It watches only the pods bound to
// this node (field selector spec.nodeName) and keeps a few fields of each, so its memory follows its own
// node, not the cluster. It syncs the policies those pods reference, publishes node facts, collects
// namespaces lsmns created whose pod is gone, sets lsmns.io/Confined from the container init's real label,
// and reports annotation drift on running pods as RestartRequired.

import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { join } from 'node:path';
import type { OwnershipStore } from '../apply/ownership.js';
import { FORMAT_VERSION } from '../format.js';
import type { KernelPort } from '../kernel/port.js';
import type { NodeFacts } from '../kernel/facts.js';
import { plan } from '../plan/planner.js';
import { labelSeenFromRoot } from '../plan/label.js';
import { requestFromPod } from '../plan/request.js';
import type { Plan } from '../plan/types.js';
import { CLUSTER_SCOPE, MAX_POLICY_BYTES, digestOf, type PolicySource } from '../policy/store.js';
import { lsmnsAnnotations, readSpec } from '../schema/annotations.js';
import { nameRuleBroken } from '../schema/names.js';
import { checkPod } from '../schema/pod.js';
import type { KubeApi, KubeObject } from './client.js';
import { DEFAULT_RUNTIME_CLASS, ENABLED_LABEL } from './admission.js';
import { EventRecorder, type EventReason } from './events.js';
import { Informer, type Logger } from './informer.js';
import { KubeMetrics } from './metrics.js';

export const CONFINED_CONDITION = 'lsmns.io/Confined';
export const POLICY_LABEL = 'lsmns.io/policy';
const BETA_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

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
  /** A namespace lsmns created stays this long after its pod is gone, for poststop to run first. */
  gcGraceMs?: number;
  resyncMs?: number;
  watchdogMs?: number;
  /** The paths whose presence says the hook client and the shim front are installed. */
  installed?: { hook: string; shim: string };
  /** Whether a runtime handler `lsmns` is configured (label lsmns.io/runtime-handler, RuntimeClass scheduling). */
  handlerConfigured?: () => boolean;
  /** Compiles a synced policy ahead of the container start (the securityfs backend's cache), so that the hook only loads. */
  precompile?: (policy: PolicySource) => Promise<void>;
  /** The init pid of a container, from its CRI id ("containerd://<id>"); default: a /proc cgroup scan. */
  resolvePid?: (containerId: string) => Promise<number | null>;
  now?: () => number;
}

const stripScheme = (id: string) => id.replace(/^[a-z0-9-]+:\/\//, '');

/** Finds a container's init on the host: the process in a cgroup named after the id whose parent is not. */
export async function pidFromCgroups(containerId: string, procRoot = '/proc'): Promise<number | null> {
  const id = stripScheme(containerId);
  if (!/^[A-Za-z0-9_.-]{8,128}$/.test(id)) return null;
  const inCgroup = new Set<number>();
  const parent = new Map<number, number>();
  for (const e of readdirSync(procRoot)) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readFileSync(`${procRoot}/${e}/cgroup`, 'utf8').includes(id)) continue;
      const stat = readFileSync(`${procRoot}/${e}/stat`, 'utf8');
      inCgroup.add(Number(e));
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* the process ended meanwhile */ }
  }
  const inits = [...inCgroup].filter((p) => !inCgroup.has(parent.get(p)!)).sort((a, b) => a - b);
  return inits[0] ?? null;
}

/** A label as /proc shows it, without the mode: "unconfined//&:ns:p (enforce)" -> "unconfined//&:ns:p". */
export function stripMode(label: string): string {
  return label.replace(/\s+\((enforce|complain|kill|unconfined|prompt|mixed)\)$/, '').trim();
}

/**
 * Whether the label the kernel shows is the planned one. A planned "&:NS:P" stacks on whatever confines the
 * runtime (bounded without a declared host profile), so any host part is accepted; the tenant part must match.
 */
export function labelMatches(planned: string, seen: string): boolean {
  const s = stripMode(seen);
  if (s === labelSeenFromRoot(planned)) return true;
  if (planned.startsWith('&:')) return s.endsWith(`//${planned}`) && !s.slice(0, -planned.length - 2).includes('&');
  return false;
}

function projectPod(o: KubeObject): NodePod {
  const md = o.metadata ?? {};
  const spec = (o.spec ?? {}) as { containers?: Record<string, unknown>[]; initContainers?: Record<string, unknown>[]; securityContext?: { appArmorProfile?: unknown }; runtimeClassName?: string };
  const slimC = (c: Record<string, unknown>) => ({ name: c.name, securityContext: (c.securityContext as { appArmorProfile?: unknown } | undefined)?.appArmorProfile ? { appArmorProfile: (c.securityContext as { appArmorProfile?: unknown }).appArmorProfile } : undefined });
  const ann = md.annotations ?? {};
  const keep: Record<string, string> = {};
  for (const [k, v] of Object.entries(ann)) if (k.startsWith('lsmns.io/') || k.startsWith('container.lsmns.io/') || k.startsWith(BETA_PREFIX)) keep[k] = v;
  const status = (o.status ?? {}) as { containerStatuses?: { name: string; containerID?: string; state?: { running?: unknown } }[]; initContainerStatuses?: { name: string; containerID?: string; state?: { running?: unknown } }[] };
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

interface PolicyMap { key: string; namespace: string; name: string; rv: string; policies: string[] }

export class NodeAgent {
  readonly metrics: KubeMetrics;
  readonly pods: Informer<NodePod>;
  readonly namespaces: Informer<{ name: string; rv: string }>;
  readonly configMaps: Informer<PolicyMap>;
  private readonly events: EventRecorder;
  private facts: NodeFacts | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Once-only bookkeeping, keyed by pod uid; cleared when the pod goes. */
  private readonly said = new Map<string, Set<string>>();
  private readonly runningDigest = new Map<string, string>();
  private readonly confirmed = new Map<string, string>();
  private readonly missingSince = new Map<string, number>();
  /** Policy files this agent wrote, so it removes only its own. */
  private readonly written = new Map<string, string>();
  private readonly o: NodeAgentOptions & Required<Pick<NodeAgentOptions, 'gcGraceMs' | 'resyncMs' | 'now'>>;

  constructor(o: NodeAgentOptions) {
    this.o = { gcGraceMs: 60_000, resyncMs: 10_000, now: Date.now, ...o };
    this.metrics = o.metrics ?? new KubeMetrics('agent');
    const hooks = this.metrics.informerHooks();
    const kick = () => this.kick();
    this.pods = new Informer<NodePod>({
      api: o.api, path: '/api/v1/pods', resource: 'pods', fieldSelector: `spec.nodeName=${o.nodeName}`, hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: projectPod, keyOf: (p) => p.key, versionOf: (p) => p.rv,
      handlers: { add: kick, update: (a, p) => { this.noteDrift(a, p); kick(); }, delete: kick },
    });
    this.namespaces = new Informer({
      api: o.api, path: '/api/v1/namespaces', resource: 'namespaces', labelSelector: `${ENABLED_LABEL}=true`, hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: (x) => ({ name: x.metadata?.name ?? '', rv: x.metadata?.resourceVersion ?? '' }), keyOf: (n) => n.name, versionOf: (n) => n.rv,
      handlers: { add: kick, update: kick, delete: kick },
    });
    // Only which policies a ConfigMap offers is kept; the text is fetched when a local pod needs it.
    this.configMaps = new Informer<PolicyMap>({
      api: o.api, path: '/api/v1/configmaps', resource: 'configmaps', labelSelector: `${POLICY_LABEL}=true`, hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: (x) => ({ key: `${x.metadata?.namespace}/${x.metadata?.name}`, namespace: x.metadata?.namespace ?? '', name: x.metadata?.name ?? '', rv: x.metadata?.resourceVersion ?? '', policies: Object.keys((x.data ?? {}) as Record<string, string>).filter((k) => k.endsWith('.aa')).map((k) => k.slice(0, -3)).sort() }),
      keyOf: (c) => c.key, versionOf: (c) => c.rv,
      handlers: { add: kick, update: kick, delete: kick },
    });
    this.events = new EventRecorder({ api: o.api, component: 'lsmns-agent', host: o.nodeName, logger: o.logger, onRecorded: (reason, type) => this.metrics.events.inc({ reason, type }) });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.facts = await this.o.port.probe();
    for (const d of this.o.owners.staleBootDirs()) rmSync(d, { recursive: true, force: true }); // namespaces die with their boot
    this.pods.start();
    this.namespaces.start();
    this.configMaps.start();
    await Promise.all([this.pods.waitForSync(), this.namespaces.waitForSync(), this.configMaps.waitForSync()]);
    await this.publishNodeFacts();
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

  /** Runs one pass now (tests and benchmarks); resolves when it is done. */
  async syncNow(): Promise<void> {
    this.kick();
    while (this.pending) await this.pending;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.pending) { this.again = true; return; }
    this.pending = (async () => {
      do {
        this.again = false;
        const end = this.metrics.reconcileSeconds.startTimer();
        try {
          await this.pass();
          this.metrics.reconciles.inc({ result: 'ok' });
        } catch (e) {
          this.metrics.reconciles.inc({ result: 'error' });
          this.o.logger.warn({ err: (e as Error).message }, 'node agent pass failed');
        }
        end();
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
    for (const uid of [...this.said.keys()]) if (!live.has(uid)) { this.said.delete(uid); this.runningDigest.delete(uid); this.confirmed.delete(uid); }
    const wanted = new Map<string, { ns: string; name: string; scope: 'pod-namespace' | 'cluster' }>();
    const markers = new Map(this.o.owners.list().map((r) => [r.podKey, r]));
    for (const p of local) {
      if (!this.enabled(p) || readSpec(p.pod.metadata?.annotations).status !== 'ok') continue;
      if (p.containers.some((c) => c.running) && !this.runningDigest.has(p.uid)) this.runningDigest.set(p.uid, p.digest);
      const pl = this.planOf(p);
      if (!pl || pl.outcome === 'invalid') continue;
      if (pl.outcome === 'infeasible') {
        await this.event(p, 'NotPossibleOnNode', `not possible on node ${this.o.nodeName}: ${pl.blockers.map((b) => `${b.code}: ${b.message} (remedy: ${b.remedy})`).join('; ')}`);
        continue;
      }
      const pol = pl.input.spec?.policy;
      if (pol) {
        const name = pol.scope === 'cluster' ? pol.ref.slice(CLUSTER_SCOPE.length + 1) : pol.ref;
        const ns = pol.scope === 'cluster' ? this.o.lsmnsNamespace : p.namespace;
        wanted.set(pol.scope === 'cluster' ? `${CLUSTER_SCOPE}/${name}` : `${p.namespace}/${name}`, { ns, name, scope: pol.scope });
      }
      const rec = markers.get(pl.input.podKey);
      if (rec && rec.state === 'ready') {
        await this.event(p, 'NamespaceCreated', `AppArmor policy namespace ${rec.namespace} created for the pod on node ${this.o.nodeName}`);
        if (rec.policy) await this.event(p, 'PolicyLoaded', `policy ${rec.policy.ref} (${rec.policy.digest.slice(0, 19)}) loaded into :${rec.namespace}: with profiles ${rec.policy.profiles.join(', ') || '(none)'}`);
      }
      await this.checkConfined(p, pl);
    }
    await this.syncPolicies(wanted);
    await this.collect(live);
  }

  /** SPEC §4: a pod reaches its own namespace's ConfigMaps and, as cluster/NAME, lsmns's own; nothing else. */
  private async syncPolicies(wanted: Map<string, { ns: string; name: string; scope: 'pod-namespace' | 'cluster' }>): Promise<void> {
    const maps = [...this.configMaps.cache.values()].sort((a, b) => a.key.localeCompare(b.key));
    for (const [rel, w] of wanted) {
      if (nameRuleBroken(w.name, 'policy name')) continue;
      const cm = maps.find((m) => m.namespace === w.ns && m.policies.includes(w.name));
      if (!cm) continue; // the hook waits --policy-wait, then fails with the remedy
      const file = join(this.o.policyDir, `${rel}.aa`);
      const stamp = `${cm.key}@${cm.rv}`;
      if (this.written.get(file) === stamp && existsSync(file)) continue;
      const obj = await this.o.api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${encodeURIComponent(cm.namespace)}/configmaps/${encodeURIComponent(cm.name)}`);
      const text = obj.data?.[`${w.name}.aa`];
      if (typeof text !== 'string') continue;
      if (Buffer.byteLength(text) > MAX_POLICY_BYTES) { this.o.logger.warn({ configMap: cm.key, policy: w.name }, 'policy over the size limit; not synced'); continue; }
      writeFileAtomic(file, text, { mode: 0o644, dirMode: 0o755 });
      this.written.set(file, stamp);
      this.o.logger.info({ policy: rel, from: cm.key, digest: digestOf(text) }, 'policy synced');
      if (this.o.precompile) {
        // A policy that does not compile is reported by the hook at the container start, with its remedy.
        await this.o.precompile({ ref: rel, path: file, text, digest: digestOf(text) }).catch((e: Error) => this.o.logger.warn({ policy: rel, err: e.message }, 'policy does not compile'));
      }
    }
    for (const file of [...this.written.keys()]) {
      const rel = file.slice(this.o.policyDir.length + 1, -3);
      if (!wanted.has(rel)) { rmSync(file, { force: true }); this.written.delete(file); }
    }
  }

  private async checkConfined(p: NodePod, pl: Plan): Promise<void> {
    const apps = pl.containers.filter((c) => c.role === 'app' && c.label);
    const states = new Map(p.containers.map((c) => [c.name, c]));
    const running = apps.map((c) => ({ c, s: states.get(c.name) })).filter((x) => x.s?.running && x.s.id);
    // Init containers have exited by the time app containers run; judge what runs now.
    const runningApps = running.filter(({ c }) => ((p.pod.spec as { containers: { name: string }[] }).containers).some((x) => x.name === c.name));
    if (runningApps.length === 0) return;
    const ids = runningApps.map((x) => x.s!.id).join(',');
    if (this.confirmed.get(p.uid) === ids) return;
    const resolve = this.o.resolvePid ?? ((id: string) => pidFromCgroups(id));
    const seen: string[] = [];
    for (const { c, s } of runningApps) {
      const pid = await resolve(s!.id!);
      if (pid === null) return; // not visible yet: try again on the next pass
      const label = stripMode(await this.o.port.readTaskLabel(pid));
      if (!labelMatches(c.label!, label)) {
        await this.setCondition(p, 'False', 'LabelMismatch', `container ${c.name} (pid ${pid}) runs as ${label}, not the planned ${c.label}`);
        this.confirmed.set(p.uid, ids);
        return;
      }
      seen.push(`${c.name}: ${label}`);
    }
    this.confirmed.set(p.uid, ids);
    await this.setCondition(p, 'True', 'LabelMatches', `read from /proc/<pid>/attr/apparmor/current: ${seen.join('; ')}`);
    await this.event(p, 'Confined', `confined as planned: ${seen.join('; ')}`, `Confined ${ids}`);
  }

  private async setCondition(p: NodePod, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    const cond = { type: CONFINED_CONDITION, status, reason, message: message.slice(0, 1024), lastTransitionTime: new Date(this.o.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') };
    await this.o.api.patch(`/api/v1/namespaces/${encodeURIComponent(p.namespace)}/pods/${encodeURIComponent(p.name)}/status`, { status: { conditions: [cond] } }, 'strategic');
  }

  /** GC: only namespaces with an lsmns ownership marker for a Kubernetes pod that is gone from this node. */
  private async collect(live: Set<string>): Promise<void> {
    if (!this.pods.synced) return;
    const now = this.o.now();
    const seen = new Set<string>();
    for (const rec of this.o.owners.list()) {
      if (!rec.podKey.startsWith('uid:')) continue; // not a Kubernetes pod: the poststop hook owns it
      seen.add(rec.namespace);
      if (live.has(rec.podKey.slice(4))) { this.missingSince.delete(rec.namespace); continue; }
      const since = this.missingSince.get(rec.namespace) ?? now;
      this.missingSince.set(rec.namespace, since);
      if (now - since < this.o.gcGraceMs) continue;
      await this.o.owners.withLock(rec.namespace, async () => {
        const cur = this.o.owners.get(rec.namespace);
        if (!cur || cur.podKey !== rec.podKey) return; // reused meanwhile: not ours to remove any more
        try {
          await this.o.port.removeNamespace(rec.namespace);
        } catch (e) {
          if ((e as { errno?: string }).errno !== 'ENOENT') throw e;
        }
        this.o.owners.delete(rec.namespace);
      });
      this.missingSince.delete(rec.namespace);
      this.metrics.reconciles.inc({ result: 'gc' });
      this.o.logger.info({ namespace: rec.namespace, pod: rec.pod, podKey: rec.podKey }, 'removed the namespace of a pod that is gone');
    }
    for (const ns of [...this.missingSince.keys()]) if (!seen.has(ns)) this.missingSince.delete(ns);
  }

  /** Node facts as labels (for scheduling) and one annotation (for people and tools). */
  async publishNodeFacts(): Promise<void> {
    const f = this.facts!;
    const inst = this.o.installed;
    const hook = inst ? existsSync(inst.hook) : false;
    const shim = inst ? existsSync(inst.shim) : false;
    const handler = shim && (this.o.handlerConfigured?.() ?? false);
    const b = (x: boolean) => (x ? 'true' : 'false');
    const labels = {
      'lsmns.io/apparmor': b(f.lsms.includes('apparmor') && f.apparmor.enabled),
      'lsmns.io/policy-namespaces': b(f.apparmor.policyNamespaces),
      'lsmns.io/stacking': b(f.apparmor.stacking),
      'lsmns.io/hook-installed': b(hook),
      'lsmns.io/shim-installed': b(shim),
      'lsmns.io/runtime-handler': b(handler),
    };
    const facts = { formatVersion: FORMAT_VERSION, kernel: f.kernel.release, lsms: f.lsms, apparmor: f.apparmor, attr: f.attr, syscalls: f.syscalls, hook, shim, runtimeHandler: handler };
    await this.o.api.patch(`/api/v1/nodes/${encodeURIComponent(this.o.nodeName)}`, { metadata: { labels, annotations: { 'lsmns.io/node-facts': JSON.stringify(facts) } } }, 'merge');
  }
}
