// The whole stack on the one-node cluster of `make cluster-up` (issue 15, Scale and Performance): pods created
// through the real API server (and, in an opted-in namespace, the webhook), the scheduler, the kubelet,
// containerd 1.6 and, for RuntimeClass lsmns, the served shim front and the agent (sim backend).
// Not in CI, and not in a plain `make bench`: `make bench BENCH=cluster` starts the cluster when none runs and
// leaves it running.
//
// Create -> Running is timed by a watch: from just before the POST to the first watch event that shows the pod in
// phase Running, in ms. The pod's own timestamps (creationTimestamp, the Ready condition, startedAt) have one-second
// resolution, which is as coarse as the figure itself; they are printed beside it as a cross-check only.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { HttpKubeApi, loadKubeConfig, type KubeApi, type KubeObject, type WatchHandle } from '../src/kube/client.js';
import { CLUSTER, KUBECONFIG, LSMNS_NS, REPO, deleteNamespace, kubectl, kubectlJson, kubectlOk, makeNamespace, podDoc, requireCluster, simNamespaces, type Obj } from '../test/cluster/cluster.js';
import { median } from './util.js';
import type { BenchModule } from './run.js';

const SCALE = 100;
const PAIRS = 24;
const WARM = 2;
const RATIO_LIMIT = 1.15;
const LABEL = 'lsmns-bench';
const OPTED = 'lsmns-b-opted';
const PLAIN = 'lsmns-b-plain';
const ANN = { 'lsmns.io/apparmor-namespace': 'auto', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };
const POLICY = 'profile web flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /etc/lab-secret r,\n}\n';

/** Nearest-rank percentile. */
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function clusterRunning(): boolean {
  const f = join(CLUSTER, 'pids', 'kube-apiserver.pid');
  if (!existsSync(f)) return false;
  try { process.kill(Number(readFileSync(f, 'utf8')), 0); return true; } catch { return false; }
}

/** When each bench pod was first seen scheduled and Running, by a watch on all of them (ms, performance.now()). */
interface Seen { scheduled?: number; running?: number; deleted?: number; pod?: Obj }

class PodClock {
  readonly seen = new Map<string, Seen>();
  private handle?: WatchHandle;
  private rv = '';
  private stopped = false;
  private waiters: (() => void)[] = [];
  constructor(private readonly api: KubeApi) {}

  async start(): Promise<void> {
    this.rv = (await this.api.list('/api/v1/pods', { labelSelector: LABEL })).resourceVersion;
    await this.watch();
  }

  private async watch(): Promise<void> {
    this.handle = await this.api.watch('/api/v1/pods', { labelSelector: LABEL, resourceVersion: this.rv }, (type, obj) => this.event(type, obj), (err) => {
      // The API server ends watches after a while; go on from the last version seen.
      if (this.stopped) return;
      if (err) console.log(`  (watch ended: ${String(err)}; restarted)`);
      void this.watch();
    });
  }

  private event(type: string, obj: KubeObject): void {
    const t = performance.now();
    if (type === 'BOOKMARK' || type === 'ERROR') return;
    this.rv = obj.metadata?.resourceVersion ?? this.rv;
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    const s = this.seen.get(key) ?? {};
    const p = obj as Obj;
    if (s.scheduled === undefined && p.spec?.nodeName) s.scheduled = t;
    if (s.running === undefined && p.status?.phase === 'Running') { s.running = t; s.pod = p; }
    if (type === 'DELETED') s.deleted = t;
    this.seen.set(key, s);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when done() holds, or rejects with what() after ms. */
  async until(done: () => boolean, ms: number, what: () => string): Promise<void> {
    const end = performance.now() + ms;
    while (!done()) {
      if (performance.now() > end) throw new Error(what());
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(1000)]);
    }
  }

  forget(key: string): void { this.seen.delete(key); }

  stop(): void { this.stopped = true; this.handle?.abort(); }
}

/** The agent pod's restarts so far (an OOM kill at its memory limit would show here). */
function agentRestarts(): number {
  const pod = (kubectlJson(['-n', LSMNS_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=lsmns-agent']).items as Obj[])[0];
  return ((pod?.status?.containerStatuses as Obj[] | undefined) ?? []).reduce((a, c) => a + (c.restartCount ?? 0), 0);
}

/** The agent container's processes on this host (it runs with hostPID; its cgroup names its container id). */
function agentPids(): number[] {
  const pod = (kubectlJson(['-n', LSMNS_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=lsmns-agent']).items as Obj[])[0];
  const id = String((pod?.status?.containerStatuses as Obj[] | undefined)?.find((c) => c.name === 'agent')?.containerID ?? '').replace(/^.*:\/\//, '');
  if (!id) throw new Error('the agent pod has no running container');
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (readFileSync(`/proc/${d}/cgroup`, 'utf8').includes(id)) pids.push(Number(d)); } catch { /* gone */ }
  }
  if (pids.length === 0) throw new Error(`no process of the agent's container ${id.slice(0, 12)} in /proc`);
  return pids;
}

/** Resident memory of those processes, MiB. */
function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const p of pids) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kb / 1024;
}

/** Each Event reason in a namespace, with its count (the node's complaints, when some pods did not run). */
function eventReasons(ns: string): string {
  const ev = kubectlJson(['-n', ns, 'get', 'events']).items as Obj[];
  const n = new Map<string, number>();
  for (const e of ev) n.set(`${e.type}/${e.reason}`, (n.get(`${e.type}/${e.reason}`) ?? 0) + (e.count ?? 1));
  return [...n].map(([k, v]) => `${k} ${v}`).join(', ');
}

/** The API server's own timing of the lsmns webhook call (its admission metric): total seconds and calls. */
function webhookSeconds(): { sum: number; count: number } {
  const text = kubectlOk(['get', '--raw', '/metrics']);
  const pick = (m: string) => text.split('\n').filter((l) => l.startsWith(`apiserver_admission_webhook_admission_duration_seconds_${m}{`) && l.includes('name="pods.lsmns.io"'))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { sum: pick('sum'), count: pick('count') };
}

/** Per pod, from the node's containerd log (1.6's CRI messages, ms timestamps): RunPodSandbox and StartContainer
 *  (task create with the runtime's create and its hooks, then start) from request to return. */
function containerdStages(): Map<string, { sandbox: number; start: number }> {
  const out = new Map<string, { sandbox: number; start: number }>();
  const sb = new Map<string, string>(), ct = new Map<string, string>(), t0 = new Map<string, number>();
  for (const line of readFileSync(join(CLUSTER, 'logs', 'containerd.log'), 'utf8').split('\n')) {
    const m = /^time="([^"]+)".*msg="(.*)"$/.exec(line);
    if (!m) continue;
    const t = Date.parse(m[1]!), msg = m[2]!;
    let x: RegExpExecArray | null;
    if ((x = /^RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),.*?Namespace:([^,]+),(.*)$/.exec(msg))) {
      const pod = `${x[2]}/${x[1]}`;
      const id = /returns sandbox id \\"([0-9a-f]+)/.exec(x[3]!)?.[1];
      if (!id) { t0.set(`sb ${pod}`, t); continue; }
      sb.set(id, pod);
      out.set(pod, { sandbox: t - (t0.get(`sb ${pod}`) ?? t), start: NaN });
    } else if ((x = /^CreateContainer within sandbox \\"([0-9a-f]+)\\".*returns container id \\"([0-9a-f]+)/.exec(msg))) {
      if (sb.has(x[1]!)) ct.set(x[2]!, sb.get(x[1]!)!);
    } else if ((x = /^StartContainer for \\"([0-9a-f]+)\\"( returns successfully)?/.exec(msg))) {
      const pod = ct.get(x[1]!);
      if (!pod) continue;
      if (!x[2]) t0.set(`sc ${pod}`, t);
      else out.get(pod)!.start = t - t0.get(`sc ${pod}`)!;
    }
  }
  return out;
}

function benchPod(name: string, ns: string): Obj {
  const doc = podDoc(name, ns, { annotations: ANN }) as Obj;
  doc.metadata.labels = { [LABEL]: 'cluster' };
  doc.spec.terminationGracePeriodSeconds = 0;
  return doc;
}

function setUp(): void {
  makeNamespace(OPTED, { 'lsmns.io/enabled': 'true' });
  makeNamespace(PLAIN);
  kubectlOk(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-policy', namespace: OPTED, labels: { 'lsmns.io/policy': 'true' } }, data: { 'web.aa': POLICY },
  }));
}

/** Sim namespaces made by pods of this run must all go once the pods are gone; waits for that, then throws. */
async function noLeak(baseline: string[], ms: number): Promise<number> {
  const t0 = performance.now();
  let left: string[] = [];
  while (performance.now() - t0 < ms) {
    left = simNamespaces().filter((n) => !baseline.includes(n));
    if (left.length === 0) return performance.now() - t0;
    await sleep(1000);
  }
  throw new Error(`${left.length} lsmns namespaces left on the node after their pods were deleted: ${left.slice(0, 10).join(', ')}`);
}

interface Burst { all: number; ms: number[]; deleted: number; load: string }

/** SCALE pods created at once in ns: waits until all run (fails loudly otherwise), calls running(), deletes them. */
async function burst(api: KubeApi, clock: PodClock, ns: string, running: () => void): Promise<Burst> {
  const names = Array.from({ length: SCALE }, (_, i) => `scale-${i}`);
  const key = (n: string) => `${ns}/${n}`;
  const t0 = new Map<string, number>();
  const refused: string[] = [];
  const ld = load();
  const start = performance.now();
  try {
    await Promise.all(names.map(async (n) => {
      t0.set(n, performance.now());
      await api.create(`/api/v1/namespaces/${ns}/pods`, benchPod(n, ns)).catch((e: Error) => refused.push(`${n}: ${e.message}`));
    }));
    if (refused.length) throw new Error(`${refused.length} of ${SCALE} pods refused at creation in ${ns}:\n  ${refused.slice(0, 5).join('\n  ')}`);
    await clock.until(() => names.every((n) => clock.seen.get(key(n))?.running !== undefined), 900_000, () => {
      const late = names.filter((n) => clock.seen.get(key(n))?.running === undefined);
      return `${late.length} of ${SCALE} pods in ${ns} not Running after 900 s (${late.slice(0, 5).join(', ')}...); Events: ${eventReasons(ns)}`;
    });
    const all = performance.now() - start;
    const ms = names.map((n) => clock.seen.get(key(n))!.running! - t0.get(n)!);
    running();
    const t1 = performance.now();
    kubectlOk(['-n', ns, 'delete', 'pods', '-l', LABEL, '--wait=true', '--timeout=600s']);
    return { all, ms, deleted: performance.now() - t1, load: ld };
  } finally {
    for (const n of names) clock.forget(key(n));
  }
}

function burstLine(label: string, b: Burst, base?: Burst): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const r = (f: (x: Burst) => number) => (base ? ` (${(f(b) / f(base)).toFixed(2)}x)` : '');
  return `  ${label.padEnd(30)} all Running in ${s(b.all)}${r((x) => x.all)}; create -> Running p50 ${s(pct(b.ms, 50))}${r((x) => pct(x.ms, 50))}, p99 ${s(pct(b.ms, 99))}${r((x) => pct(x.ms, 99))}; deleted in ${s(b.deleted)} (load ${b.load} before)`;
}

async function scale(api: KubeApi, clock: PodClock): Promise<void> {
  console.log(`  ${SCALE} pods created at once, timed by watch; the default handler first, in an unlabelled namespace:`);
  const plain = await burst(api, clock, PLAIN, () => {});
  console.log(burstLine('default handler', plain));
  await sleep(10_000);
  const baseline = simNamespaces();
  const pids = agentPids();
  const restarts = agentRestarts();
  const before = rssMiB(pids);
  let peak = before, during = 0, events = '';
  const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(pids)); }, 200);
  try {
    const opted = await burst(api, clock, OPTED, () => {
      if (agentRestarts() !== restarts) throw new Error(`the agent restarted during the run (restarts ${restarts} -> ${agentRestarts()})`);
      during = simNamespaces().filter((n) => !baseline.includes(n)).length;
      if (during !== SCALE) throw new Error(`${SCALE} pods Running but ${during} new lsmns namespaces on the node`);
      events = eventReasons(OPTED);
    });
    console.log(burstLine('opted in (namespace auto, web)', opted, plain));
    console.log(`  ${during} lsmns namespaces on the node while they ran; Events: ${events}`);
    const drained = await noLeak(baseline, 180_000);
    clearInterval(sampler);
    await sleep(5000);
    console.log(`  every lsmns namespace of theirs gone from the sim ${(drained / 1000).toFixed(1)} s after the delete returned (nothing leaked)`);
    console.log(`  agent RSS: before ${before.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, after ${rssMiB(pids).toFixed(0)} MiB (load ${load()})`);
  } finally {
    clearInterval(sampler);
  }
}

interface Sample { total: number; post: number; sched: number; run: number; stamp: number; sandbox: number; start: number }

/** One pod: create, wait until Running, delete and wait until it is gone (so each pod starts on a quiet node). */
async function onePod(api: KubeApi, clock: PodClock, ns: string, name: string): Promise<Sample> {
  const key = `${ns}/${name}`;
  const t0 = performance.now();
  await api.create(`/api/v1/namespaces/${ns}/pods`, benchPod(name, ns));
  const posted = performance.now();
  await clock.until(() => clock.seen.get(key)?.running !== undefined, 180_000, () => `pod ${key} not Running after 180 s; Events: ${eventReasons(ns)}`);
  const s = clock.seen.get(key)!;
  const p = s.pod!;
  const ready = (p.status.conditions as Obj[] | undefined)?.find((c) => c.type === 'ContainersReady')?.lastTransitionTime;
  const started = (p.status.containerStatuses as Obj[] | undefined)?.[0]?.state?.running?.startedAt;
  const stamp = Date.parse(ready ?? started ?? '') - Date.parse(p.metadata.creationTimestamp);
  kubectlOk(['-n', ns, 'delete', 'pod', name, '--wait=true', '--timeout=120s']);
  await clock.until(() => clock.seen.get(key)?.deleted !== undefined, 60_000, () => `pod ${key} not deleted`);
  clock.forget(key);
  await sleep(500);
  return { total: s.running! - t0, post: posted - t0, sched: s.scheduled! - posted, run: s.running! - s.scheduled!, stamp, sandbox: NaN, start: NaN };
}

async function ratio(api: KubeApi, clock: PodClock): Promise<void> {
  const baseline = simNamespaces();
  const out: Record<'lsmns' | 'plain', Sample[]> = { lsmns: [], plain: [] };
  const loads: number[] = [];
  const hook0 = webhookSeconds();
  for (let i = 0; i < PAIRS + WARM; i++) {
    // ABBA order, so that whatever the previous pod leaves behind falls on both kinds alike.
    const order = i % 2 ? (['lsmns', 'plain'] as const) : (['plain', 'lsmns'] as const);
    for (const k of order) {
      const s = await onePod(api, clock, k === 'lsmns' ? OPTED : PLAIN, `${k}-${i}`);
      if (i >= WARM) out[k].push(s);
    }
    loads.push(loadavg()[0]!);
  }
  await noLeak(baseline, 120_000);
  const hook1 = webhookSeconds();
  const stages = containerdStages();
  for (const k of ['lsmns', 'plain'] as const) {
    out[k].forEach((s, j) => Object.assign(s, stages.get(`${k === 'lsmns' ? OPTED : PLAIN}/${k}-${j + WARM}`) ?? {}));
  }
  const f = (k: 'lsmns' | 'plain', g: (s: Sample) => number, q: number) => pct(out[k].map(g), q);
  const med = (k: 'lsmns' | 'plain', g: (s: Sample) => number) => median(out[k].map(g));
  const row = (label: string, k: 'lsmns' | 'plain') => {
    const m = med(k, (s) => s.total), p = f(k, (s) => s.total, 95);
    return `  ${label.padEnd(46)} ${m.toFixed(0).padStart(6)} ms ${p.toFixed(0).padStart(6)} ms  ${(m / med('plain', (s) => s.total)).toFixed(2)}x ${(p / f('plain', (s) => s.total, 95)).toFixed(2)}x`;
  };
  console.log(`  create -> Running, one pod at a time, ${PAIRS} of each interleaved (ABBA) after ${WARM} warm-up pairs, timed by watch:`);
  console.log(`  ${''.padEnd(46)} ${'median'.padStart(9)} ${'p95'.padStart(9)}  ratios (median, p95)`);
  console.log(row('default handler, unlabelled namespace', 'plain'));
  console.log(row('RuntimeClass lsmns (webhook, shim, agent)', 'lsmns'));
  const rm = med('lsmns', (s) => s.total) / med('plain', (s) => s.total);
  const rp = f('lsmns', (s) => s.total, 95) / f('plain', (s) => s.total, 95);
  console.log(`  median ratio ${rm.toFixed(2)}x, p95 ratio ${rp.toFixed(2)}x (goal ${RATIO_LIMIT}x: ${rm <= RATIO_LIMIT ? 'ok' : 'OVER'}); load ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)} (1-min)`);
  console.log('  medians by stage: watch (POST, POST -> scheduled, scheduled -> Running); containerd log (RunPodSandbox, StartContainer):');
  for (const k of ['plain', 'lsmns'] as const) {
    const cols = [(s: Sample) => s.post, (s: Sample) => s.sched, (s: Sample) => s.run, (s: Sample) => s.sandbox, (s: Sample) => s.start].map((g) => `${med(k, g).toFixed(0).padStart(6)} ms`);
    console.log(`  ${k.padEnd(8)} ${cols.join('  ')}`);
  }
  // The kubelet sees a started container on its next relist (PLEG, every 1 s), so Running comes in steps of up to
  // a second; the mean and the runtime's own part (containerd's two calls, ms) show a shift smaller than a step.
  const mean = (k: 'lsmns' | 'plain') => out[k].reduce((a, s) => a + s.total, 0) / out[k].length;
  const rt = (k: 'lsmns' | 'plain') => med(k, (s) => s.sandbox + s.start);
  console.log(`  mean ${mean('plain').toFixed(0)} vs ${mean('lsmns').toFixed(0)} ms (${(mean('lsmns') / mean('plain')).toFixed(2)}x); RunPodSandbox + StartContainer median ${rt('plain').toFixed(0)} vs ${rt('lsmns').toFixed(0)} ms (+${(rt('lsmns') - rt('plain')).toFixed(0)} ms, ${(rt('lsmns') / rt('plain')).toFixed(2)}x)`);
  const calls = hook1.count - hook0.count;
  console.log(`  the webhook as the API server timed it: ${calls} calls, mean ${calls ? (((hook1.sum - hook0.sum) / calls) * 1000).toFixed(1) : '-'} ms`);
  console.log(`  cross-check from the pods' own timestamps (1 s resolution): median ${med('plain', (s) => s.stamp)} ms default, ${med('lsmns', (s) => s.stamp)} ms lsmns`);
}

const bench: BenchModule = {
  title: 'the whole stack on the one-node cluster: 100 pods at once, and create -> Running against the default handler',
  explicit: true,
  async run() {
    if (!clusterRunning()) {
      if (process.getuid?.() !== 0) { console.log('  skipped (no cluster running, and make cluster-up needs root)'); return; }
      const r = spawnSync(join(REPO, 'scripts', 'cluster', 'up.sh'), { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`scripts/cluster/up.sh exited ${r.status}`);
    }
    requireCluster();
    const api = new HttpKubeApi(loadKubeConfig({ kubeconfig: KUBECONFIG }, {}));
    setUp();
    const clock = new PodClock(api);
    await clock.start();
    try {
      await scale(api, clock);
      await ratio(api, clock);
    } finally {
      clock.stop();
      kubectl(['delete', 'pods', '-A', '-l', LABEL, '--wait=false']);
      deleteNamespace(OPTED);
      deleteNamespace(PLAIN);
    }
  },
};
export default bench;
