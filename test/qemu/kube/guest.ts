// Runs INSIDE the qemu guest (Debian's 6.1 kernel with AppArmor), started by kube.test.ts: containerd's CRI
// with handler lsmns and the securityfs backend, then the node agent's Kubernetes side (against the fake API
// server) reading the container init's label and setting lsmns.io/Confined. Prints RESULT lines.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { OwnershipStore } from '../../../src/apply/ownership.js';
import { openBackend } from '../../../src/kernel/factory.js';
import { NodeAgent } from '../../../src/agent/kube/node-agent.js';
import { CriLab } from '../../cri/lab.js';
import { FakeApiServer } from '../../kube/fake-apiserver.js';

const out = (k: string, v: unknown) => console.log(`RESULT ${JSON.stringify({ k, v })}`);
const step = (s: string) => console.log(`[guest ${process.uptime().toFixed(1)}s] ${s}`);
const W = '/tmp/kube';
const UID = '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f';
const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-k', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const env = { LSMNS_BACKEND: 'securityfs', LSMNS_STATE_DIR: `${W}/state`, LSMNS_POLICY_DIR: `${W}/policies`, LSMNS_BIN: join(REPO, 'bin/lsmns.cjs') };
mkdirSync(`${W}/policies/team-a`, { recursive: true });
writeFileSync(`${W}/policies/team-a/web.aa`, 'profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /etc/lab-secret r,\n}\n');
out('kernel', readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());

const lab = new CriLab({ env });
const srv = await new FakeApiServer().start();
let agent: NodeAgent | null = null;
try {
  step('containerd');
  await lab.start();
  const sb = lab.sandboxConfig({ name: 'web', uid: UID, namespace: 'team-a', annotations: ANN });
  step('RunPodSandbox (handler lsmns)');
  const { pod_sandbox_id } = await lab.call('RunPodSandbox', { config: sb, runtime_handler: 'lsmns' });
  out('namespaces-after-sandbox', readdirSync('/sys/kernel/security/apparmor/policy/namespaces'));
  const cmd = 'echo "attr: $(cat /proc/self/attr/current)"; cat /etc/lab-secret >/dev/null 2>&1 && echo "secret: READABLE" || echo "secret: DENIED"; sleep 120';
  const { container_id } = await lab.call('CreateContainer', { pod_sandbox_id, config: lab.containerConfig({ cmd }), sandbox_config: sb });
  step('StartContainer');
  await lab.call('StartContainer', { container_id });
  const st = await lab.call('ContainerStatus', { container_id, verbose: true });
  const info = JSON.parse(st.info.info) as { pid: number; runtimeSpec: { process: { apparmorProfile?: string } } };
  out('apparmorProfile', info.runtimeSpec.process.apparmorProfile ?? null);
  out('node-view', readFileSync(`/proc/${info.pid}/attr/current`, 'utf8').trim());
  for (let i = 0; i < 100; i++) {
    const log = readFileSync(join(sb.log_directory, 'app/0.log'), 'utf8');
    if (log.includes('secret:')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  out('container-log', readFileSync(join(sb.log_directory, 'app/0.log'), 'utf8').split('\n').map((l) => l.split(' ').slice(3).join(' ')).filter(Boolean));

  step('node agent');
  srv.put('namespaces', { metadata: { name: 'team-a', labels: { 'lsmns.io/enabled': 'true' } } });
  srv.put('nodes', { metadata: { name: 'guest' } });
  srv.put('pods', {
    metadata: { name: 'web', namespace: 'team-a', uid: UID, annotations: ANN },
    spec: { nodeName: 'guest', runtimeClassName: 'lsmns', containers: [{ name: 'app', image: 'lsmns.test/app:1' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'app', containerID: `containerd://${container_id}`, state: { running: { startedAt: 'now' } } }] },
  });
  const { kernel: port, runtime } = await openBackend({ backend: 'securityfs', securityfs: '/sys/kernel/security', simState: '', stateDir: env.LSMNS_STATE_DIR });
  agent = new NodeAgent({
    api: srv.api(), nodeName: 'guest', lsmnsNamespace: 'lsmns-system', port, policyDir: `${W}/agent-policies`, logger: { info() {}, warn: (o) => console.log('agent warn', JSON.stringify(o)) },
    owners: new OwnershipStore({ stateDir: env.LSMNS_STATE_DIR, backend: 'securityfs', bootId: await port.bootId() }),
    resolvePid: (id) => runtime.initPid(id),
  });
  // unref: once the agent has synced, this timer must not keep the guest script alive for the rest of 60 s.
  await Promise.race([agent.start(), new Promise((_, rej) => setTimeout(() => rej(new Error('the node agent did not sync within 60 s')), 60_000).unref())]);
  for (let i = 0; i < 50 && !srv.patches.some((p) => p.path.endsWith('/status')); i++) { await agent.syncNow(); await new Promise((r) => setTimeout(r, 200)); }
  const stored = srv.getObject('pods', 'team-a', 'web')!.status as { conditions?: unknown[] };
  out('condition', stored.conditions ?? null);
  out('events', srv.events.map((e) => (e.body as { reason: string; message: string })).map((e) => `${e.reason}: ${e.message}`));
  out('node-labels', srv.getObject('nodes', null, 'guest')!.metadata.labels);
  await agent.stop();
  agent = null;

  step('teardown');
  // Once in three runs under TCG, containerd lost its ttrpc connection to the shim on this kill ("ttrpc:
  // closed"); one retry is recorded, not hidden.
  try {
    await lab.call('StopContainer', { container_id, timeout: 10 });
  } catch (e) {
    out('stop-retry', String((e as { details?: string }).details ?? e));
    await new Promise((r) => setTimeout(r, 2000));
    await lab.call('StopContainer', { container_id, timeout: 10 });
  }
  await lab.call('RemoveContainer', { container_id });
  out('namespaces-after-container', readdirSync('/sys/kernel/security/apparmor/policy/namespaces'));
  await lab.call('StopPodSandbox', { pod_sandbox_id });
  await lab.call('RemovePodSandbox', { pod_sandbox_id });
  out('namespaces-after-pod', readdirSync('/sys/kernel/security/apparmor/policy/namespaces'));
} catch (e) {
  out('error', String((e as { details?: string }).details ?? (e as Error).stack));
  try { console.log(readFileSync(join(lab.dir, 'containerd.log'), 'utf8').split('\n').filter((l) => /level=(error|warning)/.test(l)).slice(-15).join('\n')); } catch { /* no log */ }
} finally {
  await agent?.stop();
  await lab.cleanPods().catch(() => {});
  await lab.stop().catch(() => {});
  await srv.stop();
  step('done');
}
