import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidFromCgroups } from '../../../src/kernel/cgroups.js';
import { PROFILE_P, tempDir } from '../../kernel/sim/helpers.js';
import { podObj } from '../../kube/helpers.js';
import { waitFor } from '../../support/wait.js';
import { CID, nodeHarness } from './helpers.js';

describe('agent/kube/confined', () => {
  const h = nodeHarness();

  it('sets lsmns.io/Confined True only after reading the init\'s label and matching the plan; records the Events', async () => {
    mkdirSync(join(h.dir, 'policies'), { recursive: true });
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000002', runtimeClassName: 'lsmns', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-web', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' } });
    const r = await h.runPodOnNode(pod, PROFILE_P);
    const task = r.tasks.find((t) => t.container === 'app')!;
    assert.ok(task, 'the sim runtime started the container');
    h.srv.put('pods', pod);
    await h.startAgent();
    assert.equal(h.srv.patches.filter((p) => p.path.endsWith('/status')).length, 0, 'no condition before the container runs');
    h.pids.set(CID, task.pid);
    h.srv.put('pods', { ...pod, status: { phase: 'Running', containerStatuses: [{ name: 'app', containerID: CID, state: { running: { startedAt: 'x' } } }] } });
    await waitFor(async () => { await h.agent!.syncNow(); return h.srv.patches.some((p) => p.path.endsWith('/status')); }, 'the condition patch');
    const patch = h.srv.patches.find((p) => p.path.endsWith('/status'))!;
    assert.equal(patch.contentType, 'application/strategic-merge-patch+json');
    const cond = (patch.body as { status: { conditions: { type: string; status: string; message: string }[] } }).status.conditions[0]!;
    assert.equal(cond.type, 'lsmns.io/Confined');
    assert.equal(cond.status, 'True');
    assert.match(cond.message, /app: unconfined\/\/&:tenant-web:p/);
    const reasons = h.srv.events.map((e) => (e.body as { reason: string }).reason).sort();
    assert.deepEqual(reasons, ['Confined', 'NamespaceCreated', 'PolicyLoaded']);
    const stored = h.srv.getObject('pods', 'team-a', 'web')!.status as { conditions: { type: string; status: string }[] };
    assert.equal(stored.conditions.find((c) => c.type === 'lsmns.io/Confined')!.status, 'True');

    // Annotations edited on the running pod: drift is reported, never acted on.
    h.srv.put('pods', { ...h.srv.getObject('pods', 'team-a', 'web')!, metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, 'lsmns.io/apparmor-profile': 'q' } } });
    await waitFor(() => h.srv.events.some((e) => (e.body as { reason: string }).reason === 'RestartRequired'), 'RestartRequired');
  });

  it('reports False when the running label is not the planned one', async () => {
    const pod = podObj('team-a', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000003', runtimeClassName: 'lsmns', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-x' } });
    const rogue = await h.port.spawnTask({ comm: 'app' }); // started without the label, as if the shim were bypassed
    h.pids.set(CID, rogue.pid);
    h.srv.put('pods', { ...pod, status: { containerStatuses: [{ name: 'app', containerID: CID, state: { running: {} } }] } });
    await h.startAgent();
    const patch = h.srv.patches.find((p) => p.path.endsWith('/status'))!;
    const cond = (patch.body as { status: { conditions: { status: string; reason: string }[] } }).status.conditions[0]!;
    assert.deepEqual([cond.status, cond.reason], ['False', 'LabelMismatch']);
    assert.ok(!h.srv.events.some((e) => (e.body as { reason: string }).reason === 'Confined'));
  });

  it('a container whose label cannot be read is skipped and reported (log, metric); the pass goes on with the other pods, and judges it again next time', async () => {
    const ann = { 'lsmns.io/apparmor-namespace': 'tenant-web', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
    const gone = podObj('team-a', 'gone', { uid: 'a1b2c3d4-0000-4000-8000-000000000004', runtimeClassName: 'lsmns', annotations: { ...ann, 'lsmns.io/apparmor-namespace': 'tenant-gone' } });
    const web = podObj('team-b', 'web', { uid: 'a1b2c3d4-0000-4000-8000-000000000005', runtimeClassName: 'lsmns', annotations: ann });
    const task = (await h.runPodOnNode(web, PROFILE_P)).tasks.find((t) => t.container === 'app')!;
    const other = 'containerd://fedcba9876543210fedcba9876543210';
    h.pids.set(other, 99_999); // no such task: the read fails (the container exited between the lookup and the read)
    h.pids.set(CID, task.pid);
    const running = (pod: typeof web, id: string) => ({ ...pod, status: { containerStatuses: [{ name: 'app', containerID: id, state: { running: {} } }] } });
    h.srv.put('pods', running(gone, other)); // listed first: before, its failure ended the pass here
    h.srv.put('pods', running(web, CID));
    const agent = await h.startAgent();
    const conditions = () => h.srv.patches.filter((p) => p.path.endsWith('/status')).map((p) => p.path.split('/')[6]);
    assert.deepEqual(conditions(), ['web'], 'the readable pod got its condition');
    const warned = h.logged.filter((l) => l.o.event === 'confined-read-failed');
    // Once per pass (the agent has made one or more by now), each naming the pod, the container and the pid.
    assert.ok(warned.length >= 1);
    assert.deepEqual(new Set(warned.map((l) => JSON.stringify([l.level, l.o.pod, l.o.container, l.o.pid]))), new Set([JSON.stringify(['warn', 'team-a/gone', 'app', 99_999])]));
    assert.match(String(warned[0]!.o.err), /99999|ESRCH|no such/i);
    const metrics = await agent.metrics.registry.metrics();
    assert.match(metrics, new RegExp(`lsmns_agent_pod_check_errors_total\\{check="label-read",component="agent"\\} ${warned.length}\n`));
    assert.doesNotMatch(metrics, /lsmns_reconcile_total\{result="error"/, 'no pass failed as a whole');
    // Readable on a later pass: judged then (the skip was not remembered as a verdict).
    h.pids.set(other, task.pid);
    await agent.syncNow();
    assert.deepEqual(conditions(), ['web', 'gone']);
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
