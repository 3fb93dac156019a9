// The lsmns controller (SPEC §3): watches pods in namespaces labelled lsmns.io/enabled=true, validates their
// annotations with the CLI's planner, records Events (leader only, through a Lease), serves health and
// metrics, and serves the mutating admission webhook (every replica, since admission needs no leader).

import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatProblem } from '../schema/annotations.js';
import { lsmnsAnnotations } from '../schema/annotations.js';
import { checkPod } from '../schema/pod.js';
import { plan } from '../plan/planner.js';
import { requestFromPod } from '../plan/request.js';
import { statusOf, type KubeApi, type KubeObject } from './client.js';
import { admissionFacts, ENABLED_LABEL, namespaceDelivery, review, type LabelDelivery } from './admission.js';
import { EventRecorder } from './events.js';
import { Informer, type Logger } from './informer.js';
import { LeaderElector } from './leader.js';
import { KubeMetrics } from './metrics.js';
import { closeServer, serveHealth } from './serve.js';

/** How long the webhook keeps an idle connection: longer than the API server's 90 s, so that the client closes it. */
export const WEBHOOK_KEEPALIVE_MS = 120_000;

export interface ControllerOptions {
  api: KubeApi;
  /** lsmns's own namespace: the Lease lives there. */
  namespace: string;
  identity: string;
  labelDelivery: LabelDelivery;
  runtimeClass: string;
  logger: Logger & { error(o: object, msg?: string): void };
  metrics?: KubeMetrics;
  /** Port for /healthz /readyz /metrics; null: not served. */
  healthPort?: number | null;
  /** HTTPS webhook; null: not served (tests call `admit` directly). */
  webhook?: { port: number; certFile: string; keyFile: string; host?: string } | null;
  lease?: { durationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  watchdogMs?: number;
}

interface NsInfo { name: string; labels: Record<string, string>; rv: string }
/** What the controller keeps of a pod: only pods with lsmns.io/ keys, only what validation reads. */
interface PodInfo { key: string; rv: string; uid: string; namespace: string; name: string; digest: string; pod: KubeObject }

function annotationDigest(o: KubeObject): string {
  return JSON.stringify(lsmnsAnnotations(o.metadata?.annotations));
}

export class Controller {
  readonly metrics: KubeMetrics;
  readonly namespaces: Informer<NsInfo>;
  readonly pods: Informer<PodInfo>;
  readonly leader: LeaderElector;
  private readonly events: EventRecorder;
  private readonly queue = new Set<string>();
  private draining: Promise<void> | null = null;
  /** Pod uid -> the annotation digest already reported, so a resync does not repeat Events. */
  private readonly reported = new Map<string, string>();
  private health: Server | null = null;
  private https: HttpsServer | null = null;
  private certTimer: NodeJS.Timeout | null = null;
  healthPort = 0;
  webhookPort = 0;

  constructor(private readonly o: ControllerOptions) {
    this.metrics = o.metrics ?? new KubeMetrics('controller');
    const hooks = this.metrics.informerHooks();
    this.namespaces = new Informer<NsInfo>({
      api: o.api, path: '/api/v1/namespaces', resource: 'namespaces', labelSelector: `${ENABLED_LABEL}=true`, hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: (x) => ({ name: x.metadata?.name ?? '', labels: x.metadata?.labels ?? {}, rv: x.metadata?.resourceVersion ?? '' }),
      keyOf: (n) => n.name, versionOf: (n) => n.rv,
      handlers: { add: (n) => this.enqueueNamespace(n.name), update: (_a, n) => this.enqueueNamespace(n.name) },
    });
    this.pods = new Informer<PodInfo>({
      api: o.api, path: '/api/v1/pods', resource: 'pods', hooks, logger: o.logger, watchdogMs: o.watchdogMs,
      project: (x) => {
        const digest = annotationDigest(x);
        if (digest === '{}') return null;
        const md = x.metadata ?? {};
        return { key: `${md.namespace}/${md.name}`, rv: md.resourceVersion ?? '', uid: md.uid ?? '', namespace: md.namespace ?? '', name: md.name ?? '', digest, pod: { metadata: { name: md.name, namespace: md.namespace, uid: md.uid, annotations: md.annotations }, spec: x.spec } };
      },
      keyOf: (p) => p.key, versionOf: (p) => p.rv,
      handlers: { add: (p) => this.enqueue(p.key), update: (a, p) => { if (a.digest !== p.digest) this.enqueue(p.key); }, delete: (p) => this.reported.delete(p.uid) },
    });
    this.events = new EventRecorder({ api: o.api, component: 'lsmns-controller', host: o.identity, logger: o.logger, onRecorded: (reason, type) => this.metrics.events.inc({ reason, type }) });
    this.leader = new LeaderElector({
      api: o.api, namespace: o.namespace, name: 'lsmns-controller', identity: o.identity, logger: o.logger,
      leaseDurationMs: o.lease?.durationMs, renewDeadlineMs: o.lease?.renewDeadlineMs, retryPeriodMs: o.lease?.retryPeriodMs,
      onStartedLeading: () => { this.metrics.leader.set(1); for (const k of this.pods.cache.keys()) this.enqueue(k); },
      onStoppedLeading: () => this.metrics.leader.set(0),
    });
  }

  async start(): Promise<void> {
    this.namespaces.start();
    this.pods.start();
    this.leader.start();
    if (this.o.healthPort !== null && this.o.healthPort !== undefined) {
      const h = await serveHealth({ port: this.o.healthPort, registry: this.metrics.registry, notReady: () => this.notReady() });
      this.health = h.server;
      this.healthPort = h.port;
    }
    if (this.o.webhook) await this.serveWebhook(this.o.webhook);
  }

  async stop(): Promise<void> {
    if (this.certTimer) clearInterval(this.certTimer);
    await Promise.all([closeServer(this.health), closeServer(this.https as unknown as Server)]);
    await this.leader.stop();
    await Promise.all([this.namespaces.stop(), this.pods.stop()]);
    await this.draining;
  }

  notReady(): string | null {
    if (!this.namespaces.synced || !this.pods.synced) return 'informers have not listed yet';
    if (this.o.webhook && !this.https?.listening) return 'the webhook is not listening';
    return null;
  }

  async waitForIdle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private enqueueNamespace(ns: string): void {
    for (const p of this.pods.cache.values()) if (p.namespace === ns) this.enqueue(p.key);
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    if (!this.draining) this.draining = this.drain().finally(() => { this.draining = null; });
  }

  /** Serial reconcile (STYLE 15): one pod at a time, in arrival order, duplicates collapsed. */
  private async drain(): Promise<void> {
    while (this.queue.size > 0) {
      const key = this.queue.values().next().value!;
      this.queue.delete(key);
      const end = this.metrics.reconcileSeconds.startTimer();
      try {
        this.metrics.reconciles.inc({ result: await this.reconcile(key) });
      } catch (e) {
        this.metrics.reconciles.inc({ result: 'error' });
        this.o.logger.warn({ pod: key, err: (e as Error).message }, 'reconcile failed');
      }
      end();
    }
  }

  private async reconcile(key: string): Promise<string> {
    const p = this.pods.cache.get(key);
    if (!p) return 'gone';
    if (!this.namespaces.cache.has(p.namespace)) return 'not-enabled';
    if (!this.leader.isLeader) return 'standby';
    if (this.reported.get(p.uid) === p.digest) return 'unchanged';
    const doc = checkPod(p.pod, key);
    const problems = doc.pod
      ? plan(requestFromPod(doc.pod, key, { delivery: this.modeOf(p.namespace) }), admissionFacts()).problems
      : doc.problems;
    this.reported.set(p.uid, p.digest);
    if (problems.length === 0) return 'valid';
    await this.events.record({ namespace: p.namespace, name: p.name, uid: p.uid }, 'InvalidAnnotation', `invalid lsmns input; nothing will be done: ${problems.map(formatProblem).join('; ')}`);
    return 'invalid';
  }

  private modeOf(ns: string, labels?: Record<string, string>): LabelDelivery {
    return namespaceDelivery(labels ?? this.namespaces.cache.get(ns)?.labels, this.o.labelDelivery).mode;
  }

  /** Answers one AdmissionReview body. The namespace's override comes from the cache, else one GET. */
  async admit(body: unknown): Promise<unknown> {
    const end = this.metrics.admissionSeconds.startTimer();
    const req = (body as { request?: { namespace?: string } } | null)?.request;
    let mode = this.o.labelDelivery;
    const warnings: string[] = [];
    if (req?.namespace) {
      let labels = this.namespaces.cache.get(req.namespace)?.labels;
      if (!labels) {
        try {
          labels = (await this.o.api.get<KubeObject>(`/api/v1/namespaces/${encodeURIComponent(req.namespace)}`)).metadata?.labels ?? {};
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      const d = namespaceDelivery(labels, this.o.labelDelivery);
      mode = d.mode;
      if (d.problem) warnings.push(`lsmns: ${d.problem}`);
    }
    const r = review(body, { mode, runtimeClass: this.o.runtimeClass });
    if (warnings.length > 0 && r.review.response) r.review.response.warnings = [...(r.review.response.warnings ?? []), ...warnings];
    const d = r.decision;
    this.metrics.admissions.inc({ mode, result: !d ? 'error' : d.result === 'denied' ? 'denied' : d.patch.length > 0 ? 'patched' : 'allowed' });
    end();
    return r.review;
  }

  private async serveWebhook(w: NonNullable<ControllerOptions['webhook']>): Promise<void> {
    const load = () => ({ cert: readFileSync(w.certFile), key: readFileSync(w.keyFile) });
    const server = createHttpsServer({ ...load() }, (req, res) => {
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/mutate') { res.writeHead(404).end(); return; }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => { size += c.length; if (size > 3 * 1024 * 1024) req.destroy(); else chunks.push(c); });
      req.on('end', () => {
        let body: unknown = null;
        try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* review() answers a malformed body */ }
        this.admit(body).then(
          (out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out)),
          (e: Error) => { this.o.logger.error({ err: e.message }, 'admission failed'); res.writeHead(500, { 'content-type': 'text/plain' }).end(`lsmns: ${e.message}\n`); },
        );
      });
    });
    // The API server keeps an idle webhook connection for 90 s (client-go's transport, Go's IdleConnTimeout);
    // Node closes one after 5 s. So, with pods created more than 5 s apart, every admission paid a new TCP and
    // TLS handshake, and a close racing a new request failed that request. Outlive the client's idle timeout.
    server.keepAliveTimeout = WEBHOOK_KEEPALIVE_MS;
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(w.port, w.host ?? '0.0.0.0', () => resolve()); });
    this.https = server;
    this.webhookPort = (server.address() as AddressInfo).port;
    // cert-manager rotates the Secret in place; pick the new pair up without a restart.
    let mtime = statSync(w.certFile).mtimeMs;
    this.certTimer = setInterval(() => {
      try {
        const m = statSync(w.certFile).mtimeMs;
        if (m !== mtime) { mtime = m; server.setSecureContext(load()); this.o.logger.info({ cert: w.certFile }, 'serving certificate reloaded'); }
      } catch (e) { this.o.logger.warn({ err: (e as Error).message }, 'cannot reload the serving certificate'); }
    }, 60_000);
    this.certTimer.unref();
  }
}
