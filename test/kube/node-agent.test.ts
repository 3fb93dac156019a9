import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan } from '../../src/apply/executor.js';
import { OwnershipStore } from '../../src/apply/ownership.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { FilePolicyStore } from '../../src/policy/store.js';
import { NodeAgent, labelMatches, pidFromCgroups } from '../../src/kube/node-agent.js';
import { plan } from '../../src/plan/planner.js';
import { requestFromPod } from '../../src/plan/request.js';
import { checkPod } from '../../src/schema/pod.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';
import { FakeApiServer } from './fake-apiserver.js';
import { podObj, waitFor } from './helpers.js';

const quiet = { info() {}, warn() {} };
const ENABLED = { 'lsmns.io/enabled': 'true' };
const CID = 'containerd://0123456789abcdef0123456789abcdef';

describe('kube/node-agent (fake API server, sim kernel)', () => {
  let srv: FakeApiServer;
  let dir: string;
  let port: SimKernel;
  let owners: OwnershipStore;
  let agent: NodeAgent | null = null;
  let clock = 1_000_000;
  const pids = new Map<string, number>();

  beforeEach(async () => {
    srv = await new FakeApiServer().start();
    dir = tempDir('lsmns-agent-');
    port = new SimKernel({ path: join(dir, 'sim.json'), boot: {} });
    owners = new OwnershipStore({ stateDir: join(dir, 'state'), backend: 'sim', bootId: await port.bootId() });
    pids.clear();
    clock = 1_000_000;
    for (const ns of ['team-a', 'team-b', 'team-c']) srv.put('namespaces', { metadata: { name: ns, labels: ENABLED } });
    srv.put('nodes', { metadata: { name: 'node-a' } });
  });
  afterEach(async () => { await agent?.stop(); agent = null; await srv.stop(); });

  const compiled: string[] = [];
  async function startAgent(): Promise<NodeAgent> {
    compiled.length = 0;
    agent = new NodeAgent({
      precompile: async (p) => { compiled.push(`${p.ref} ${p.digest.slice(0, 15)}`); },
      api: srv.api(), nodeName: 'node-a', lsmnsNamespace: 'lsmns-system', port, owners, policyDir: join(dir, 'policies'), logger: quiet,
      gcGraceMs: 5_000, resyncMs: 60_000, now: () => clock, resolvePid: async (id) => pids.get(id) ?? null,
      installed: { hook: join(dir, 'nope'), shim: join(dir, 'shim') }, handlerConfigured: () => true,
    });
    await agent.start();
    await agent.syncNow();
    return agent;
  }

  /** What the hook and the runtime do on the node for a pod: create the namespace, load, start the container. */
  async function runPodOnNode(pod: ReturnType<typeof podObj>, policyText?: string) {
    const policyDir = join(dir, 'hook-policies');
    if (policyText) { mkdirSync(join(policyDir, pod.metadata.namespace), { recursive: true }); writeFileSync(join(policyDir, pod.metadata.namespace, 'web.aa'), policyText); }
    const p = plan(requestFromPod(checkPod(pod, 'pod').pod!, 'pod', { delivery: 'shim' }), await port.probe());
    const stateDir = join(dir, 'state');
    return applyPlan(p, { port, runtime: new SimRuntime(port, stateDir), policies: new FilePolicyStore(policyDir), stateDir, stage: 'create', refs: ['sandbox', 'app'], actors: ['hook', 'shim', 'webhook', 'kernel'] });
  }

  it('watches only the pods of its node, with the field selector on list and watch', async () => {
    for (let i = 0; i < 20; i++) srv.put('pods', podObj('team-a', `other-${i}`, { node: 'node-b' }));
    srv.put('pods', podObj('team-a', 'mine'));
    const a = await startAgent();
    assert.deepEqual([...a.pods.cache.keys()], ['team-a/mine']);
    await waitFor(() => srv.requests.some((r) => r.path === '/api/v1/pods' && r.query.watch === 'true'), 'the pod watch');
    assert.ok(srv.requests.filter((r) => r.path === '/api/v1/pods').every((r) => r.query.fieldSelector === 'spec.nodeName=node-a'));
  });

  it('syncs only referenced policies, each from the pod\'s own namespace or lsmns-system (cluster/)', async () => {
    const cm = (ns: string, name: string, data: Record<string, string>) => srv.put('configmaps', { metadata: { name, namespace: ns, labels: { 'lsmns.io/policy': 'true' } }, data });
    cm('team-a', 'web-policy', { 'web.aa': 'profile web { # team-a\n}\n' });
    cm('team-b', 'web-policy', { 'web.aa': 'profile web { # team-b\n}\n', 'unused.aa': 'x' });
    cm('team-a', 'fake-baseline', { 'baseline.aa': 'profile baseline { # forged by team-a\n}\n' });
    cm('lsmns-system', 'baseline', { 'baseline.aa': 'profile baseline { # cluster\n}\n' });
    srv.put('configmaps', { metadata: { name: 'unlabelled', namespace: 'team-c' }, data: { 'web.aa': 'profile web { # not published\n}\n' } });
    srv.put('pods', podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'ta', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }));
    srv.put('pods', podObj('team-a', 'base', { annotations: { 'lsmns.io/apparmor-namespace': 'tb', 'lsmns.io/apparmor-profile': 'baseline', 'lsmns.io/apparmor-policy': 'cluster/baseline' } }));
    srv.put('pods', podObj('team-c', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'tc', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }));
    srv.put('pods', podObj('team-b', 'elsewhere', { node: 'node-b', annotations: { 'lsmns.io/apparmor-namespace': 'tx', 'lsmns.io/apparmor-policy': 'web' } }));
    await startAgent();
    const pd = join(dir, 'policies');
    assert.equal(readFileSync(join(pd, 'team-a/web.aa'), 'utf8'), 'profile web { # team-a\n}\n');
    assert.equal(readFileSync(join(pd, 'cluster/baseline.aa'), 'utf8'), 'profile baseline { # cluster\n}\n', 'cluster/ comes from lsmns-system only');
    assert.equal(existsSync(join(pd, 'team-c/web.aa')), false, 'team-c has no published policy: nothing is borrowed from another namespace');
    assert.equal(existsSync(join(pd, 'team-b')), false, 'pods of other nodes bring nothing here');
    assert.deepEqual(compiled.map((c) => c.split(' ')[0]).sort(), ['cluster/baseline', 'team-a/web'], 'each synced policy is compiled ahead of the start');
    await agent!.syncNow();
    assert.equal(compiled.length, 2, 'an unchanged policy is neither rewritten nor recompiled');
    // A policy no local pod references any more is removed; an update is picked up.
    srv.remove('pods', 'team-a', 'base');
    cm('team-a', 'web-policy', { 'web.aa': 'profile web { # team-a v2\n}\n' });
    await waitFor(async () => { await agent!.syncNow(); return !existsSync(join(pd, 'cluster/baseline.aa')) && readFileSync(join(pd, 'team-a/web.aa'), 'utf8').includes('v2'); }, 'the resync');
  });

  it('publishes node facts as labels and an annotation', async () => {
    writeFileSync(join(dir, 'shim'), '#!/bin/sh\n');
    await startAgent();
    const node = srv.getObject('nodes', null, 'node-a')!;
    assert.equal(node.metadata.labels!['lsmns.io/apparmor'], 'true');
    assert.equal(node.metadata.labels!['lsmns.io/shim-installed'], 'true');
    assert.equal(node.metadata.labels!['lsmns.io/hook-installed'], 'false');
    assert.equal(node.metadata.labels!['lsmns.io/runtime-handler'], 'true');
    const facts = JSON.parse(node.metadata.annotations!['lsmns.io/node-facts']!) as { lsms: string[]; kernel: string };
    assert.deepEqual(facts.lsms, (await port.probe()).lsms);
  });

  it('GC removes the namespace of a pod gone for the grace period, never a foreign one', async () => {
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000001', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-web' } });
    await runPodOnNode(pod);
    await port.createNamespace('foreign');
    srv.put('pods', pod);
    await startAgent();
    assert.ok(await port.namespaceExists('tenant-web'));
    srv.remove('pods', 'team-a', 'web');
    await waitFor(() => !agent!.pods.cache.has('team-a/web'), 'the delete');
    await agent!.syncNow();
    assert.ok(await port.namespaceExists('tenant-web'), 'kept during the grace period');
    clock += 6_000;
    await agent!.syncNow();
    assert.equal(await port.namespaceExists('tenant-web'), false, 'removed after the grace period');
    assert.equal(owners.get('tenant-web'), null);
    assert.ok(await port.namespaceExists('foreign'), 'a namespace lsmns did not create is never touched');
  });

  it('sets lsmns.io/Confined True only after reading the init\'s label and matching the plan; records the Events', async () => {
    mkdirSync(join(dir, 'policies'), { recursive: true });
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000002', runtimeClassName: 'lsmns', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-web', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' } });
    const r = await runPodOnNode(pod, PROFILE_P);
    const task = r.tasks.find((t) => t.container === 'app')!;
    assert.ok(task, 'the sim runtime started the container');
    srv.put('pods', pod);
    await startAgent();
    assert.equal(srv.patches.filter((p) => p.path.endsWith('/status')).length, 0, 'no condition before the container runs');
    pids.set(CID, task.pid);
    srv.put('pods', { ...pod, status: { phase: 'Running', containerStatuses: [{ name: 'app', containerID: CID, state: { running: { startedAt: 'x' } } }] } });
    await waitFor(async () => { await agent!.syncNow(); return srv.patches.some((p) => p.path.endsWith('/status')); }, 'the condition patch');
    const patch = srv.patches.find((p) => p.path.endsWith('/status'))!;
    assert.equal(patch.contentType, 'application/strategic-merge-patch+json');
    const cond = (patch.body as { status: { conditions: { type: string; status: string; message: string }[] } }).status.conditions[0]!;
    assert.equal(cond.type, 'lsmns.io/Confined');
    assert.equal(cond.status, 'True');
    assert.match(cond.message, /app: unconfined\/\/&:tenant-web:p/);
    const reasons = srv.events.map((e) => (e.body as { reason: string }).reason).sort();
    assert.deepEqual(reasons, ['Confined', 'NamespaceCreated', 'PolicyLoaded']);
    const stored = srv.getObject('pods', 'team-a', 'web')!.status as { conditions: { type: string; status: string }[] };
    assert.equal(stored.conditions.find((c) => c.type === 'lsmns.io/Confined')!.status, 'True');

    // Annotations edited on the running pod: drift is reported, never acted on.
    srv.put('pods', { ...srv.getObject('pods', 'team-a', 'web')!, metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, 'lsmns.io/apparmor-profile': 'q' } } });
    await waitFor(() => srv.events.some((e) => (e.body as { reason: string }).reason === 'RestartRequired'), 'RestartRequired');
  });

  it('reports False when the running label is not the planned one', async () => {
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000003', runtimeClassName: 'lsmns', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-x' } });
    const rogue = await port.spawnTask({ comm: 'app' }); // started without the label, as if the shim were bypassed
    pids.set(CID, rogue.pid);
    srv.put('pods', { ...pod, status: { containerStatuses: [{ name: 'app', containerID: CID, state: { running: {} } }] } });
    await startAgent();
    const patch = srv.patches.find((p) => p.path.endsWith('/status'))!;
    const cond = (patch.body as { status: { conditions: { status: string; reason: string }[] } }).status.conditions[0]!;
    assert.deepEqual([cond.status, cond.reason], ['False', 'LabelMismatch']);
    assert.ok(!srv.events.some((e) => (e.body as { reason: string }).reason === 'Confined'));
  });

  it('records NotPossibleOnNode once when this node cannot host the pod', async () => {
    port = new SimKernel({ path: join(dir, 'sim-selinux.json'), boot: { lsm: 'capability,selinux', kernel: '6.1.0-sim' } });
    srv.put('pods', podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'tenant-a' } }));
    await startAgent();
    await agent!.syncNow();
    const ev = srv.events.map((e) => e.body as { reason: string; message: string; type: string });
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.reason, 'NotPossibleOnNode');
    assert.equal(ev[0]!.type, 'Warning');
    assert.match(ev[0]!.message, /AppArmorNotActive: AppArmor is not among the active LSMs/);
  });

  it('label matching: the tenant part must match; a bounded label accepts the runtime\'s host part', () => {
    assert.ok(labelMatches('&:ns:p', 'unconfined//&:ns:p (enforce)'));
    assert.ok(labelMatches('&:ns:p', 'cri-containerd.apparmor.d//&:ns:p (enforce)'));
    assert.ok(labelMatches('host//&:ns:p', 'host//&:ns:p (enforce)'));
    assert.ok(!labelMatches('host//&:ns:p', 'other//&:ns:p (enforce)'));
    assert.ok(!labelMatches('&:ns:p', 'unconfined (unconfined)'));
    assert.ok(!labelMatches('&:ns:p', 'x//&:evil:y//&:ns:p'));
    assert.ok(labelMatches(':ns:p', ':ns:p (enforce)'));
  });

  it('finds a container\'s init from /proc/<pid>/cgroup: the process whose parent is outside the container', async () => {
    const proc = join(tempDir('lsmns-proc-'), 'proc');
    const id = '0123456789abcdef0123456789abcdef';
    const mk = (pid: number, ppid: number, cg: string) => { mkdirSync(join(proc, String(pid)), { recursive: true }); writeFileSync(join(proc, String(pid), 'cgroup'), `0::${cg}\n`); writeFileSync(join(proc, String(pid), 'stat'), `${pid} (sh (x)) S ${ppid} 1 1 0\n`); };
    mk(100, 90, `/cri-lab/${id}`); // init: its parent (the shim) is outside
    mk(101, 100, `/cri-lab/${id}`);
    mk(90, 1, '/system.slice/containerd.service');
    mk(7, 1, '/cri-lab/ffffffffffffffffffffffffffffffff');
    assert.equal(await pidFromCgroups(`containerd://${id}`, proc), 100);
    assert.equal(await pidFromCgroups('containerd://aaaaaaaaaaaaaaaaaaaa', proc), null);
    assert.equal(await pidFromCgroups('containerd://../../etc', proc), null, 'an id that is not an id is refused');
  });
});
