// Controller and agent against the fake API server (SPEC §7): 10,000 pods in the initial list, then watch
// events at 1,000/s. Prints reconcile throughput, peak RSS and event-to-Event latency, and the agent's RSS
// with 0 and with 10,000 pods on other nodes (it must stay flat: the field selector keeps them away).
// The controller and the agent run in a child process each, so their memory is theirs alone.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeApiServer } from '../test/kube/fake-apiserver.js';
import { median } from './util.js';
import type { BenchModule } from './run.js';

const DRIVER = fileURLToPath(new URL('./kube-driver.js', import.meta.url));
const NAMESPACES = 50;
const MB = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

type Msg = { type: string; ms?: number; rss: number; maxRss?: number; reconciles: number };

function valid(i: number): Record<string, string> {
  return { 'lsmns.io/apparmor-namespace': `tenant-${i % 200}`, 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': i % 2 ? 'web' : 'cluster/baseline' };
}

function pod(i: number, node: string, annotations: Record<string, string>) {
  return {
    metadata: { name: `pod-${i}`, namespace: `team-${i % NAMESPACES}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, annotations, labels: { app: `a${i % 100}` } },
    spec: { nodeName: node, containers: [{ name: 'web', image: 'nginx:1.27', env: [{ name: 'A', value: 'x'.repeat(64) }] }, { name: 'sidecar', image: 'envoy:1' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'web', containerID: `containerd://${String(i).padStart(64, '0')}`, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] },
  };
}

async function fakeCluster(): Promise<FakeApiServer> {
  const srv = await new FakeApiServer().start();
  srv.quiet = true;
  for (let n = 0; n < NAMESPACES; n++) srv.put('namespaces', { metadata: { name: `team-${n}`, labels: { 'lsmns.io/enabled': 'true' } } }, { silent: true });
  srv.put('nodes', { metadata: { name: 'node-a' } }, { silent: true });
  return srv;
}

function start(role: 'controller' | 'agent', srv: FakeApiServer, node = 'node-a'): Promise<{ child: ChildProcess; synced: Msg; last: () => Msg; peak: () => number; final: () => Promise<Msg> }> {
  const kc = srv.writeKubeConfig(join(mkdtempSync(join(tmpdir(), 'lsmns-bench-kc-')), 'kubeconfig'));
  const child = fork(DRIVER, [role, kc, node], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let last: Msg | null = null;
  let peak = 0;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => { if (c !== 0 && c !== null) reject(new Error(`${role} driver exited ${c}`)); });
    child.on('message', (m: Msg) => {
      peak = Math.max(peak, m.maxRss ?? m.rss);
      last = m;
      if (m.type === 'synced') resolve({
        child, synced: m, last: () => last!, peak: () => peak,
        final: () => new Promise((r) => { child.on('message', (f: Msg) => { if (f.type === 'final') { peak = Math.max(peak, f.maxRss ?? 0); r(f); } }); child.send({ type: 'stop' }); }),
      });
    });
  });
}

/** Modifies `n` pods per second for `seconds`, as a busy cluster does; returns when done. */
async function churn(srv: FakeApiServer, perSecond: number, seconds: number, make: (k: number) => { ns: string; obj: ReturnType<typeof pod> }, sent: Map<string, number>): Promise<number> {
  const tickMs = 20;
  const perTick = Math.round((perSecond * tickMs) / 1000);
  const end = performance.now() + seconds * 1000;
  let k = 0;
  while (performance.now() < end) {
    const t = performance.now();
    for (let i = 0; i < perTick; i++, k++) {
      const { obj } = make(k);
      sent.set(obj.metadata.name, performance.now());
      srv.put('pods', obj);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, tickMs - (performance.now() - t))));
  }
  return k / seconds;
}

async function controller(): Promise<void> {
  const srv = await fakeCluster();
  const empty = await start('controller', srv);
  const emptyFinal = await empty.final();
  for (let i = 0; i < 10_000; i++) srv.put('pods', pod(i, `node-${i % 100}`, i % 10 === 0 ? { ...valid(i), 'lsmns.io/apparmor-stackin': 'bounded' } : valid(i)), { silent: true });
  const c = await start('controller', srv);
  console.log(`  controller, 10,000 pods (1,000 invalid): list + reconcile all in ${c.synced.ms!.toFixed(0)} ms (${(c.synced.reconciles / (c.synced.ms! / 1000)).toFixed(0)} reconciles/s), ${srv.events.length} InvalidAnnotation Events`);
  const eventsBefore = srv.events.length;
  const sent = new Map<string, number>();
  const r0 = c.last().reconciles;
  const t0 = performance.now();
  // 1,000 watch events/s: every 10th breaks a pod's annotations (an Event is due), the rest change them validly.
  const rate = await churn(srv, 1000, 5, (k) => {
    const i = (k * 7) % 10_000;
    const ann = k % 10 === 0 ? { ...valid(i), 'lsmns.io/apparmor-profile': `bad profile ${k}` } : { ...valid(i), 'lsmns.io/apparmor-profile': `web-${k}` };
    return { ns: `team-${i % NAMESPACES}`, obj: pod(i, `node-${i % 100}`, ann) };
  }, sent);
  await new Promise((r) => setTimeout(r, 1000));
  const f = await c.final();
  const secs = (performance.now() - t0) / 1000;
  const lat = srv.events.slice(eventsBefore).map((e) => {
    const name = (e.body as { involvedObject: { name: string } }).involvedObject.name;
    return e.at! - (sent.get(name) ?? e.at!);
  }).filter((x) => x > 0);
  console.log(`  controller under ${rate.toFixed(0)} watch events/s for 5 s: ${f.reconciles - r0} reconciles for ${Math.round(rate * 5)} events (${((f.reconciles - r0) / secs).toFixed(0)}/s over ${secs.toFixed(1)} s incl. 1 s drain); ${lat.length} Events, event-to-Event latency median ${median(lat).toFixed(1)} ms, p99 ${lat.sort((a, b) => a - b)[Math.floor(lat.length * 0.99)]?.toFixed(1)} ms`);
  console.log(`  controller peak RSS: ${MB(c.peak())} with 10,000 pods vs ${MB(empty.peak())} with none (${(c.peak() / empty.peak()).toFixed(2)}x); final RSS ${MB(f.rss)} vs ${MB(emptyFinal.rss)}`);
  await srv.stop();
}

async function agent(): Promise<void> {
  const srv = await fakeCluster();
  for (let i = 0; i < 100; i++) srv.put('pods', pod(i, 'node-a', valid(i)), { silent: true });
  const a0 = await start('agent', srv);
  await a0.final();
  for (let i = 100; i < 10_100; i++) srv.put('pods', pod(i, `node-${1 + (i % 99)}`, valid(i)), { silent: true });
  const a1 = await start('agent', srv);
  const sent = new Map<string, number>();
  const r0 = a1.last().reconciles;
  const rate = await churn(srv, 1000, 5, (k) => {
    const i = k % 100 === 0 ? (k / 100) % 100 : 100 + ((k * 13) % 10_000); // 1% of the events concern this node
    return { ns: `team-${i % NAMESPACES}`, obj: pod(i, i < 100 ? 'node-a' : `node-${1 + (i % 99)}`, { ...valid(i), 'lsmns.io/apparmor-profile': `web-${k}` }) };
  }, sent);
  await new Promise((r) => setTimeout(r, 500));
  const big = await a1.final();
  console.log(`  agent, 100 pods on its node: synced in ${a0.synced.ms!.toFixed(0)} ms with 0 pods elsewhere, ${a1.synced.ms!.toFixed(0)} ms with 10,000 elsewhere`);
  console.log(`  agent RSS after sync (after GC): ${MB(a1.synced.rss)} with 10,000 pods on other nodes vs ${MB(a0.synced.rss)} with none: ${(a1.synced.rss / a0.synced.rss).toFixed(2)}x (flat = about 1.0x)`);
  console.log(`  agent under ${rate.toFixed(0)} cluster watch events/s (1% for its node): ${big.reconciles - r0} passes in 5 s, peak RSS ${MB(a1.peak())}, final ${MB(big.rss)}`);
  await srv.stop();
}

const bench: BenchModule = {
  title: 'Kubernetes controller and node agent against the fake API server',
  async run() {
    await controller();
    await agent();
  },
};
export default bench;
