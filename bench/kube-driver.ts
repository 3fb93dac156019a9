// Runs the controller or the node agent in a child process for bench/kube.bench.ts, so that its memory is
// measured apart from the fake API server's. Reports over IPC: synced (with time and RSS), then stats.

import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { HttpKubeApi, loadKubeConfig } from '../src/kube/client.js';
import { Controller } from '../src/kube/controller.js';
import { NodeAgent } from '../src/agent/kube/node-agent.js';
import { OwnershipStore } from '../src/apply/ownership.js';
import { SimKernel } from '../src/kernel/sim/port.js';
import type { KubeMetrics } from '../src/kube/metrics.js';

const [role, kubeconfig, node] = process.argv.slice(2) as ['controller' | 'agent', string, string];
const quiet = { info() {}, warn() {}, error() {} };
const api = new HttpKubeApi(loadKubeConfig({ kubeconfig }, {}));

async function reconciles(m: KubeMetrics): Promise<number> {
  return (await m.reconciles.get()).values.reduce((a, v) => a + v.value, 0);
}

const t0 = performance.now();
let metrics: KubeMetrics;
let stop: () => Promise<void>;
if (role === 'controller') {
  const c = new Controller({ api, namespace: 'lsmns-system', identity: 'bench', labelDelivery: 'shim', runtimeClass: 'lsmns', logger: quiet, lease: { retryPeriodMs: 200 } });
  await c.start();
  await Promise.all([c.pods.waitForSync(), c.namespaces.waitForSync()]);
  while (!c.leader.isLeader) await new Promise((r) => setTimeout(r, 10));
  await c.waitForIdle();
  metrics = c.metrics;
  stop = () => c.stop();
} else {
  const dir = mkdtempSync(join(tmpdir(), 'lsmns-bench-agent-'));
  const port = new SimKernel({ path: join(dir, 'sim.json'), boot: {} });
  const owners = new OwnershipStore({ stateDir: join(dir, 'state'), backend: 'sim', bootId: await port.bootId() });
  const a = new NodeAgent({ api, nodeName: node, lsmnsNamespace: 'lsmns-system', port, owners, policyDir: join(dir, 'policies'), logger: quiet, resolvePid: async () => null });
  await a.start();
  await a.syncNow();
  metrics = a.metrics;
  stop = () => a.stop();
}
global.gc?.();
process.send!({ type: 'synced', ms: performance.now() - t0, rss: process.memoryUsage().rss, reconciles: await reconciles(metrics) });
const timer = setInterval(async () => {
  process.send!({ type: 'stats', rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024, reconciles: await reconciles(metrics) });
}, 250);
process.on('message', async (m: { type: string }) => {
  if (m.type !== 'stop') return;
  clearInterval(timer);
  const final = { type: 'final', rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024, reconciles: await reconciles(metrics) };
  await stop();
  process.send!(final, () => process.exit(0));
});
