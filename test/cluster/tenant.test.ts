// A tenant's pod through the whole node path: the webhook sets RuntimeClass lsmns, the kubelet starts the pod
// through containerd's handler lsmns (the shim front that `lsmns install --containerd` named and the agent's init
// container installed), and the agent (sim backend) makes its AppArmor namespace and reports it.
// make test-cluster runs this file twice: on Debian's containerd 1.6 (config version 2), then with
// LSMNS_CLUSTER_CONTAINERD=2 after scripts/cluster/swap-containerd.sh 2 put the built containerd 2.x (config
// version 3) under the kubelet.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLUSTER, LSMNS_NS, REPO, createPod, deleteNamespace, kubectl, kubectlJson, kubectlOk, makeNamespace, podDoc, requireCluster, simNamespaces, until, GiveUp, type Obj } from './cluster.js';

const NS = 'lsmns-t-tenant';
const AA_NS = 'tenant-t1';
const ANN = { 'lsmns.io/apparmor-namespace': AA_NS, 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };
const POLICY = 'profile web flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /etc/lab-secret r,\n}\n';
// containerd's config as the node sees it (/etc/containerd/config.toml there), and the containerd the node runs:
// the bin directory swap-containerd.sh named, else Debian's on the PATH.
const CTRD_CONFIG = join(CLUSTER, 'node', 'etc', 'containerd', 'config.toml');
const containerdBin = () => (existsSync(join(CLUSTER, 'containerd-bin')) ? join(readFileSync(join(CLUSTER, 'containerd-bin'), 'utf8').trim(), 'containerd') : 'containerd');

/** The pass: which containerd major the node must run, and the config version its handler is written for. */
function pass(): { major: '1' | '2'; configVersion: 2 | 3 } {
  const major = process.env.LSMNS_CLUSTER_CONTAINERD ?? '1';
  if (major !== '1' && major !== '2') throw new Error(`LSMNS_CLUSTER_CONTAINERD=${major}: 1 (containerd 1.6) or 2 (2.x)`);
  return { major, configVersion: major === '2' ? 3 : 2 };
}


/** Waits for the pod to run; fails at once on what will not heal by itself (unschedulable, a sandbox or container
 *  the runtime refused), with the pod's conditions and Events. */
async function running(name: string): Promise<void> {
  let unschedulableSince = 0;
  await until(`pod ${name} Running`, 120_000, () => {
    const p = kubectlJson(['-n', NS, 'get', 'pod', name]);
    if (p.status.phase === 'Running') return true;
    const sched = (p.status.conditions as Obj[] | undefined)?.find((c) => c.type === 'PodScheduled');
    if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
      unschedulableSince ||= Date.now();
      if (Date.now() - unschedulableSince > 15_000) throw new GiveUp(`pod ${name} unschedulable: ${why(name)}`);
    }
    const ev = kubectlJson(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.name=${name}`]).items as Obj[];
    if (p.status.phase === 'Failed' || ev.some((e) => ['FailedCreatePodSandBox', 'Failed'].includes(e.reason))) throw new GiveUp(`pod ${name} refused by the node: ${why(name)}`);
    return undefined;
  }).catch((e: Error) => { throw new Error(e.message.includes('events:') ? e.message : `${e.message}\n${why(name)}`); });
}

/** Why a pod is not running yet, for the failure message: its conditions and its Events. */
function why(name: string): string {
  const p = kubectlJson(['-n', NS, 'get', 'pod', name]);
  const ev = kubectlOk(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'custom-columns=REASON:.reason,MESSAGE:.message']);
  return `phase ${p.status.phase}; conditions ${JSON.stringify(p.status.conditions)}; events:\n${ev}`;
}

describe('cluster: a tenant\'s pod through RuntimeClass lsmns', function () {
  this.timeout(300_000);
  before(function () {
    requireCluster();
    makeNamespace(NS, { 'lsmns.io/enabled': 'true' });
    kubectlOk(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-policy', namespace: NS, labels: { 'lsmns.io/policy': 'true' } }, data: { 'web.aa': POLICY },
    }));
  });
  after(() => deleteNamespace(NS));

  it('the node runs the containerd of this pass, which reads the handler that lsmns install wrote for its config version', () => {
    const { major, configVersion } = pass();
    const ctrd = containerdBin();
    const version = spawnSync(ctrd, ['--version'], { encoding: 'utf8' }).stdout.split(' ')[2] ?? '';
    assert.match(version, major === '2' ? /^v2\./ : /^1\./, `${ctrd} --version`);
    // The kubelet reports the CRI version as a semantic version: 1.6.20~ds1 is 1.6.20, v2.4.2 is 2.4.2.
    const semver = (v: string) => v.replace(/^v/, '').replace(/[~+].*$/, '');
    const node = kubectlJson(['get', 'nodes']).items[0] as Obj;
    assert.equal(node.status.nodeInfo.containerRuntimeVersion, `containerd://${semver(version)}`);
    // `lsmns install --containerd` without a version, as a user would run it on that node.
    const detect = spawnSync(process.execPath, [join(REPO, 'bin', 'lsmns.cjs'), 'install', '--containerd', '--containerd-config', CTRD_CONFIG],
      { encoding: 'utf8', env: { ...process.env, PATH: `${dirname(ctrd)}:${process.env.PATH}` } });
    assert.equal(detect.status, 0, detect.stderr);
    assert.equal(detect.stdout.split('\n')[0], `# containerd config version ${configVersion}, from the version line of ${CTRD_CONFIG}.`);
    // containerd's own view of its config (1.6 writes TOML strings in double quotes, 2.x in single quotes).
    const dump = spawnSync(ctrd, ['--config', CTRD_CONFIG, 'config', 'dump'], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    const table = configVersion === 2 ? '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.lsmns.options]' : "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.lsmns.options]";
    const at = dump.stdout.indexOf(table);
    assert.ok(at >= 0, `containerd config dump has no ${table}`);
    assert.match(dump.stdout.slice(at), /^\[.*\]\n\s*BinaryName = ["']\/opt\/lsmns\/bin\/lsmns-runtime["']$/m);
  });

  it('the node advertises the handler, so the RuntimeClass can schedule there', async () => {
    const node = kubectlJson(['get', 'nodes']).items[0] as Obj;
    assert.equal(node.metadata.labels['lsmns.io/runtime-handler'], 'true', `node labels: ${JSON.stringify(node.metadata.labels)}`);
  });

  it('runs: namespace created, Events NamespaceCreated and PolicyLoaded, Confined from the sim task\'s label; deleting the pod removes the namespace', async () => {
    const r = createPod(podDoc('web', NS, { annotations: ANN, command: 'cat /proc/self/attr/current; sleep 3600' }));
    assert.equal(r.error, undefined);
    assert.equal(r.pod!.spec.runtimeClassName, 'lsmns');
    await running('web');
    assert.ok(simNamespaces().includes(AA_NS), `sim namespaces: ${simNamespaces().join(', ')}`);
    const reasons = await until('Events NamespaceCreated and PolicyLoaded', 60_000, () => {
      const ev = kubectlJson(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=web']).items as Obj[];
      const rs = ev.map((e) => e.reason as string);
      return rs.includes('NamespaceCreated') && rs.includes('PolicyLoaded') ? rs : undefined;
    });
    assert.ok(reasons.includes('PolicyLoaded'));
    const confined = await until('condition lsmns.io/Confined', 60_000, () => {
      const p = kubectlJson(['-n', NS, 'get', 'pod', 'web']);
      return (p.status.conditions as Obj[] | undefined)?.find((c) => c.type === 'lsmns.io/Confined');
    });
    assert.equal(confined.status, 'True', JSON.stringify(confined));
    kubectlOk(['-n', NS, 'delete', 'pod', 'web', '--wait=true', '--timeout=60s']);
    await until(`namespace ${AA_NS} gone from the sim`, 60_000, () => (simNamespaces().includes(AA_NS) ? undefined : true));
  });

  it('editing the annotations of a running pod gives RestartRequired', async () => {
    const r = createPod(podDoc('edit', NS, { annotations: ANN }));
    assert.equal(r.error, undefined);
    await running('edit');
    kubectlOk(['-n', NS, 'annotate', 'pod', 'edit', '--overwrite', 'lsmns.io/apparmor-profile=unconfined']);
    await until('Event RestartRequired', 60_000, () => {
      const ev = kubectlJson(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=edit']).items as Obj[];
      return ev.some((e) => e.reason === 'RestartRequired') ? true : undefined;
    });
    kubectl(['-n', NS, 'delete', 'pod', 'edit', '--wait=false']);
  });

  it('a tenant pod deleted while the agent is gone leaves its namespace; the agent the DaemonSet brings back collects it and nothing else', async function () {
    // The agent's GC, not the runtime's path: once (2 to 4 minutes) is enough.
    if (pass().major === '2') this.skip();
    this.timeout(480_000);
    // The previous case's pod and namespace first, so that only this case changes the sim's namespaces.
    kubectlOk(['-n', NS, 'delete', 'pod', 'edit', '--ignore-not-found', '--wait=true', '--timeout=90s']);
    await until(`namespace ${AA_NS} gone from the sim`, 60_000, () => (simNamespaces().includes(AA_NS) ? undefined : true));
    const gone = 'tenant-gc', kept = 'tenant-kept';
    for (const [name, ns] of [['gc', gone], ['kept', kept]] as const) {
      assert.equal(createPod(podDoc(name, NS, { annotations: { ...ANN, 'lsmns.io/apparmor-namespace': ns } })).error, undefined);
    }
    await running('gc');
    await running('kept');
    const before = simNamespaces();
    assert.ok(before.includes(gone) && before.includes(kept), `sim namespaces: ${before.join(', ')}`);
    // The agent away for certain (no new one while the pod goes): its DaemonSet matches no node for a while.
    const agents = () => (kubectlJson(['-n', LSMNS_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=lsmns-agent']).items as Obj[]);
    const away = [{ op: 'add', path: '/spec/template/spec/nodeSelector/lsmns.io~1test-away', value: 'true' }];
    kubectlOk(['-n', LSMNS_NS, 'patch', 'daemonset', 'lsmns-agent', '--type=json', '-p', JSON.stringify(away)]);
    try {
      await until('the agent pod gone', 120_000, () => (agents().length === 0 ? true : undefined));
      kubectlOk(['-n', NS, 'delete', 'pod', 'gc', '--grace-period=1', '--wait=true', '--timeout=90s']);
      assert.ok(simNamespaces().includes(gone), 'with no agent, nothing removed the namespace of the deleted pod');
    } finally {
      kubectlOk(['-n', LSMNS_NS, 'patch', 'daemonset', 'lsmns-agent', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: away[0]!.path }])]);
    }
    kubectlOk(['-n', LSMNS_NS, 'rollout', 'status', 'daemonset/lsmns-agent', '--timeout=180s']);
    // GC runs at start and every 60 s, and removes a namespace seen dead for --gc-grace (60 s) since it started.
    await until(`namespace ${gone} collected`, 240_000, () => (simNamespaces().includes(gone) ? undefined : true));
    assert.deepEqual(simNamespaces(), before.filter((n) => n !== gone), 'GC removed the orphan and nothing else');
    assert.equal(kubectlJson(['-n', NS, 'get', 'pod', 'kept']).status.phase, 'Running');
    kubectl(['-n', NS, 'delete', 'pod', 'kept', '--wait=false']);
  });
});
