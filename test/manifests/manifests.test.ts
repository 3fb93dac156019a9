import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseNodeConfig } from '../../src/config.js';
import { bakedConfig } from '../../src/install/doctor.js';
import { BIN } from '../commands/cli.js';
import { tempDir } from '../kernel/sim/helpers.js';

const ROOT = fileURLToPath(new URL('../../../manifests/', import.meta.url));
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: unknown };

/** Reads a kustomization's resources (files and directories) the way kustomize does, without patches. */
function renderResources(dir: string): Obj[] {
  const k = YAML.parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const out: Obj[] = [];
  for (const r of k.resources) {
    const p = join(dir, r);
    if (statSync(p).isDirectory()) out.push(...renderResources(p));
    else out.push(...YAML.parseAllDocuments(readFileSync(p, 'utf8')).map((d) => d.toJS() as Obj).filter(Boolean));
  }
  return out;
}

/** kubectl with kustomize v4 or later (Debian bookworm's kubernetes-client 1.20 embeds v2, which cannot read these). */
function hasKustomize(): boolean {
  const v = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const m = /Kustomize Version: v(\d+)/.exec(v.stdout ?? '');
  return !v.error && m !== null && Number(m[1]) >= 4;
}
const KUBECTL = hasKustomize();

function kubectlKustomize(dir: string): Obj[] | null {
  if (!KUBECTL) return null; // the resources are read directly instead (see renderResources)
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

/** The official schema class for an object, from kubernetes-models (generated from the Kubernetes OpenAPI). */
async function modelFor(o: Obj): Promise<{ validate(): void } | null> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (group === 'cert-manager.io') return null; // a CRD: no official schema
  const mod = (await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Cls = mod[o.kind];
  assert.ok(Cls, `no schema for ${o.apiVersion} ${o.kind}`);
  return new Cls(o);
}

const id = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

describe('manifests (kustomize, official schemas)', () => {
  const sets: [string, string][] = [['base', ROOT], ['examples', join(ROOT, 'examples')], ['cert-manager', join(ROOT, 'cert-manager')]];

  for (const [name, dir] of sets) {
    it(`${name}: every object validates against the Kubernetes schemas`, async () => {
      const objs = kubectlKustomize(dir) ?? renderResources(dir);
      assert.ok(objs.length > 0);
      let checked = 0;
      for (const o of objs) {
        const m = await modelFor(o);
        if (!m) continue;
        assert.doesNotThrow(() => m.validate(), (e: unknown) => { throw new Error(`${id(o)}: ${(e as Error).message}`); });
        checked++;
      }
      assert.ok(checked >= (name === 'base' ? 15 : 4), `${checked} objects checked`);
    });
  }

  it('kubectl kustomize renders the same objects as the kustomization lists (when kubectl is installed)', function () {
    const k = kubectlKustomize(ROOT);
    if (!k) this.skip();
    assert.deepEqual(k!.map(id).sort(), renderResources(ROOT).map(id).sort());
  });

  const base = renderResources(ROOT);
  const byKind = (kind: string) => base.filter((o) => o.kind === kind);

  it('RBAC: no wildcards, no secrets, and exactly the verbs the controller and agent use', () => {
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
    const rules = [...byKind('ClusterRole'), ...byKind('Role')].flatMap((r) => (r.rules as Rule[]).map((x) => ({ role: r.metadata.name, ...x })));
    for (const r of rules) {
      for (const f of [r.apiGroups, r.resources, r.verbs, r.resourceNames ?? []]) assert.ok(!f.includes('*'), `${r.role}: wildcard in ${JSON.stringify(r)}`);
      assert.ok(!r.resources.some((x) => x.startsWith('secrets')), `${r.role}: secrets`);
    }
    const grants = (role: string) => rules.filter((r) => r.role === role).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups[0] || 'core'}:${res}:${v}`))).sort();
    assert.deepEqual(grants('lsmns-agent'), ['core:configmaps:get', 'core:configmaps:list', 'core:configmaps:watch', 'core:events:create', 'core:events:patch', 'core:namespaces:get', 'core:namespaces:list', 'core:namespaces:watch', 'core:nodes:get', 'core:nodes:patch', 'core:pods/status:patch', 'core:pods:get', 'core:pods:list', 'core:pods:watch']);
    assert.deepEqual(grants('lsmns-controller'), ['core:events:create', 'core:events:patch', 'core:namespaces:get', 'core:namespaces:list', 'core:namespaces:watch', 'core:pods:get', 'core:pods:list', 'core:pods:watch']);
    assert.deepEqual(grants('lsmns-controller-leader'), ['coordination.k8s.io:leases:create', 'coordination.k8s.io:leases:get', 'coordination.k8s.io:leases:update']);
  });

  it('webhook: Fail, opt-in namespaces only, lsmns-system excluded, no side effects, a short timeout', () => {
    const [mwc] = byKind('MutatingWebhookConfiguration');
    const w = (mwc!.webhooks as Record<string, unknown>[])[0]!;
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.sideEffects, 'None');
    assert.ok((w.timeoutSeconds as number) <= 5);
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    const sel = (w.namespaceSelector as { matchExpressions: { key: string; operator: string; values: string[] }[] }).matchExpressions;
    assert.deepEqual(sel.find((e) => e.key === 'lsmns.io/enabled'), { key: 'lsmns.io/enabled', operator: 'In', values: ['true'] });
    assert.deepEqual(sel.find((e) => e.key === 'kubernetes.io/metadata.name'), { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['lsmns-system'] });
  });

  it('controller: 2 replicas; agent: securityfs, CAP_MAC_ADMIN, explicit AppArmor, host socket, installs hook and shim', () => {
    const [dep] = byKind('Deployment');
    assert.equal((dep!.spec as { replicas: number }).replicas, 2);
    const [ds] = byKind('DaemonSet');
    const pod = (ds!.spec as { template: { spec: Record<string, any> } }).template.spec;
    const agent = pod.containers[0];
    assert.ok(agent.securityContext.capabilities.add.includes('MAC_ADMIN'));
    assert.deepEqual(agent.securityContext.appArmorProfile, { type: 'Unconfined' });
    const mounts = Object.fromEntries(agent.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    const host = Object.fromEntries(pod.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.name, v.hostPath.path]));
    assert.equal(host[mounts['/sys/kernel/security']], '/sys/kernel/security');
    assert.equal(host[mounts['/run/lsmns']], '/run/lsmns');
    const init = pod.initContainers[0];
    assert.deepEqual(init.args.slice(0, 2), ['install', '--destdir=$(HOST_ROOT)'], 'the init container runs lsmns install');
    for (const f of ['--served', '--backend=securityfs', '--socket=/run/lsmns/agent.sock']) assert.ok(init.args.includes(f), `init installs with ${f}`);
    const initMounts = Object.fromEntries(init.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, host[m.name]]));
    for (const [at, from] of Object.entries(initMounts)) assert.equal(at, `/host${from}`, 'each host directory under /host at its own path');
    const [rc] = byKind('RuntimeClass');
    assert.equal(rc!.handler, 'lsmns');
    assert.equal(byKind('ConfigMap').find((c) => c.metadata.name === 'lsmns-hooks'), undefined, 'hooks.d JSON comes from lsmns install, not a copy');
  });

  it('the init container\'s command, run as written: the host\'s node laid out with the host\'s own paths', () => {
    const [ds] = byKind('DaemonSet');
    const init = (ds!.spec as { template: { spec: { initContainers: { args: string[]; env: { name: string; value: string }[] }[] } } }).template.spec.initContainers[0]!;
    // The kubelet expands $(VAR) from the container's env; HOST_ROOT is this test's directory instead of /host.
    const host = tempDir('lsmns-init-');
    const env: Record<string, string> = { ...Object.fromEntries(init.env.map((e) => [e.name, e.value])), HOST_ROOT: host };
    const args = init.args.map((a) => a.replace(/\$\((\w+)\)/g, (_m, v: string) => env[v] ?? `$(${v})`));
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LSMNS_'))) });
    assert.equal(r.status, 0, r.stderr);
    const conf = parseNodeConfig(readFileSync(join(host, 'etc/lsmns/node.conf'), 'utf8'), 'node.conf').values;
    assert.deepEqual([conf.LSMNS_BACKEND, conf.LSMNS_SHIM_MODE, conf.LSMNS_SOCKET, conf.LSMNS_HOOK_CLIENT], ['securityfs', 'served', '/run/lsmns/agent.sock', '/opt/lsmns/bin/lsmns-hook-client']);
    for (const p of ['opt/lsmns/bin/lsmns-runtime', 'opt/lsmns/bin/lsmns-hook-client']) {
      accessSync(join(host, p), constants.X_OK);
      assert.equal(bakedConfig(readFileSync(join(host, p))), '/etc/lsmns/node.conf', `${p} finds the host's node.conf with no environment`);
    }
    const hook = JSON.parse(readFileSync(join(host, 'usr/share/containers/oci/hooks.d/50-lsmns-createRuntime.json'), 'utf8')) as { hook: { path: string; env: string[] } };
    assert.equal(hook.hook.path, '/opt/lsmns/bin/lsmns-hook-client');
    assert.ok(hook.hook.env.includes('LSMNS_SOCKET=/run/lsmns/agent.sock'));
    assert.ok(existsSync(join(host, 'var/lib/lsmns/install-manifest.json')));
    const again = spawnSync(process.execPath, [BIN, ...args, '--output', 'json'], { encoding: 'utf8' });
    assert.ok((JSON.parse(again.stdout) as { files: { action: string }[] }).files.every((f) => f.action === 'unchanged'), 'a restarted pod re-runs it harmlessly');
  });
});
