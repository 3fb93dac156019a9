// The node agent's Kubernetes side under test: the fake API server, a sim kernel and ownership markers in a
// temporary directory, a clock the test moves, and what the hook and the runtime would do on the node.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan } from '../../../src/apply/executor.js';
import { OwnershipStore } from '../../../src/apply/ownership.js';
import { NodeAgent, type NodeAgentOptions } from '../../../src/agent/kube/node-agent.js';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import { SimRuntime } from '../../../src/kernel/sim/runtime.js';
import { FilePolicyStore } from '../../../src/policy/store.js';
import { plan } from '../../../src/plan/planner.js';
import { requestFromPod } from '../../../src/plan/request.js';
import { checkPod } from '../../../src/schema/pod.js';
import { tempDir } from '../../kernel/sim/helpers.js';
import { FakeApiServer } from '../../kube/fake-apiserver.js';
import { podObj } from '../../kube/helpers.js';

const ENABLED = { 'lsmns.io/enabled': 'true' };
export const CID = 'containerd://0123456789abcdef0123456789abcdef';

export interface Logged { level: 'info' | 'warn'; o: Record<string, unknown>; msg?: string }

export interface NodeHarness {
  srv: FakeApiServer;
  dir: string;
  port: SimKernel;
  owners: OwnershipStore;
  agent: NodeAgent | null;
  clock: number;
  pids: Map<string, number>;
  /** What each precompile call got: "ref digest-prefix". */
  compiled: string[];
  logged: Logged[];
  startAgent(extra?: Partial<NodeAgentOptions>): Promise<NodeAgent>;
  stopAgent(): Promise<void>;
  /** What the hook and the runtime do on the node for a pod: create the namespace, load, start the container. */
  runPodOnNode(pod: ReturnType<typeof podObj>, policyText?: string): ReturnType<typeof applyPlan>;
}

/** Registers beforeEach/afterEach in the calling describe; the fields are fresh for every test. */
export function nodeHarness(): NodeHarness {
  const h = { pids: new Map(), compiled: [], logged: [], agent: null, clock: 0 } as unknown as NodeHarness;
  beforeEach(async () => {
    h.srv = await new FakeApiServer().start();
    h.dir = tempDir('lsmns-agent-');
    h.port = new SimKernel({ path: join(h.dir, 'sim.json'), boot: {} });
    h.owners = new OwnershipStore({ stateDir: join(h.dir, 'state'), backend: 'sim', bootId: await h.port.bootId() });
    h.pids.clear();
    h.logged.length = 0;
    h.clock = 1_000_000;
    for (const ns of ['team-a', 'team-b', 'team-c']) h.srv.put('namespaces', { metadata: { name: ns, labels: ENABLED } });
    h.srv.put('nodes', { metadata: { name: 'node-a' } });
  });
  afterEach(async () => { await h.stopAgent(); await h.srv.stop(); });

  h.startAgent = async (extra = {}) => {
    h.compiled.length = 0;
    const logger = { info: (o: object, msg?: string) => h.logged.push({ level: 'info', o: o as Record<string, unknown>, msg }), warn: (o: object, msg?: string) => h.logged.push({ level: 'warn', o: o as Record<string, unknown>, msg }) };
    h.agent = new NodeAgent({
      precompile: async (p) => { h.compiled.push(`${p.ref} ${p.digest.slice(0, 15)}`); },
      api: h.srv.api(), nodeName: 'node-a', lsmnsNamespace: 'lsmns-system', port: h.port, owners: h.owners, policyDir: join(h.dir, 'policies'), logger,
      resyncMs: 60_000, now: () => h.clock, resolvePid: async (id) => h.pids.get(id) ?? null,
      installed: { hook: join(h.dir, 'nope'), shim: join(h.dir, 'shim') }, handlerConfigured: () => true,
      ...extra,
    });
    await h.agent.start();
    await h.agent.syncNow();
    return h.agent;
  };
  h.stopAgent = async () => { await h.agent?.stop(); h.agent = null; };
  h.runPodOnNode = async (pod, policyText) => {
    const policyDir = join(h.dir, 'hook-policies');
    if (policyText) { mkdirSync(join(policyDir, pod.metadata.namespace), { recursive: true }); writeFileSync(join(policyDir, pod.metadata.namespace, 'web.aa'), policyText); }
    const p = plan(requestFromPod(checkPod(pod, 'pod').pod!, 'pod', { delivery: 'shim' }), await h.port.probe());
    const stateDir = join(h.dir, 'state');
    return applyPlan(p, { port: h.port, runtime: new SimRuntime(h.port, stateDir), policies: new FilePolicyStore(policyDir), stateDir, stage: 'create', refs: ['sandbox', 'app'], actors: ['hook', 'shim', 'webhook', 'kernel'] });
  };
  return h;
}
