import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LsmnsError } from '../../src/errors.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { FilePolicyStore } from '../../src/policy/store.js';
import { simView } from '../../src/kernel/sim/view.js';
import { skipsFast } from '../../src/oci/gate.js';
import { runHook, type HookDeps } from '../../src/oci/hook.js';
import { parseOciState } from '../../src/oci/spec.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';
import { bundle as ociBundle } from '../support/bundle.js';

const STATES = fileURLToPath(new URL('../../../test/fixtures/oci/state/', import.meta.url));
const UID = '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f';
const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': UID };

interface Env { dir: string; bundle: string; port: SimKernel; deps: HookDeps; log: Record<string, unknown>[] }

function env(annotations: Record<string, string> = ANN): Env {
  const dir = tempDir('lsmns-hook-');
  const policyDir = join(dir, 'policies');
  mkdirSync(join(policyDir, 'team-a'), { recursive: true });
  writeFileSync(join(policyDir, 'team-a', 'web.aa'), PROFILE_P);
  const bundle = ociBundle({ dir }, annotations, 'bundle');
  const port = new SimKernel({ path: join(dir, 'sim.json') });
  const log: Record<string, unknown>[] = [];
  const stateDir = join(dir, 'state');
  return { dir, bundle, port, log, deps: { backend: { kernel: port, runtime: new SimRuntime(port, stateDir) }, policies: new FilePolicyStore(policyDir), stateDir, policyWaitMs: 0, log: (e) => log.push(e) } };
}

/** A captured state, pointed at this test's bundle and container id. */
function captured(file: string, e: Env, id: string, annotations?: Record<string, string>) {
  const s = JSON.parse(readFileSync(join(STATES, file), 'utf8'));
  s.bundle = e.bundle;
  s.id = id;
  if (annotations) s.annotations = annotations;
  else delete s.annotations;
  return parseOciState(JSON.stringify(s));
}

function namespaces(e: Env) {
  return simView(e.port.store.read(), 'x').namespaces.filter((n) => n.name !== 'root').map((n) => ({ name: n.name, profiles: n.profiles.map((p) => p.name) }));
}

describe('oci/hook', () => {
  describe('gate', () => {
    it('skips a known stage whose state carries annotations but no lsmns ones', () => {
      const text = readFileSync(join(STATES, 'runc-createRuntime.state.json'), 'utf8');
      assert.equal(skipsFast('createRuntime', text), true);
      assert.equal(skipsFast('poststop', text), true);
    });
    it('does not skip lsmns annotations, unknown stages, missing annotations or bad JSON', () => {
      assert.equal(skipsFast('createRuntime', JSON.stringify({ annotations: { 'lsmns.io/apparmor-namespace': 'a' } })), false);
      assert.equal(skipsFast('createRuntime', JSON.stringify({ annotations: { 'container.lsmns.io/web': 'p' } })), false);
      assert.equal(skipsFast('bogus', JSON.stringify({ annotations: {} })), false);
      assert.equal(skipsFast('createRuntime', JSON.stringify({ id: 'x' })), false);
      assert.equal(skipsFast('createRuntime', '{'), false);
    });
  });

  describe('runHook', () => {
    it('createRuntime creates the namespace and loads the policy; poststop removes it', async () => {
      const e = env();
      const r = await runHook('createRuntime', captured('runc-createRuntime.state.json', e, 'c1'), e.deps);
      assert.equal(r.outcome, 'applied');
      assert.equal(r.namespace, 'tenant-a');
      assert.deepEqual(namespaces(e), [{ name: 'tenant-a', profiles: ['p'] }]);
      assert.deepEqual(r.result!.results.filter((x) => x.outcome === 'done').map((x) => x.kind), ['checkNode', 'createNamespace', 'loadPolicy']);
      const s = await runHook('poststop', captured('runc-poststop.state.json', e, 'c1'), e.deps);
      assert.equal(s.outcome, 'released');
      assert.deepEqual(namespaces(e), []);
    });

    it('counts references: the namespace stays until the last container of the pod stops', async () => {
      const e = env();
      await Promise.all(['sandbox', 'app1', 'app2'].map((id) => runHook('createRuntime', captured('crun-createRuntime.state.json', e, id), e.deps)));
      assert.deepEqual(namespaces(e), [{ name: 'tenant-a', profiles: ['p'] }]);
      await runHook('poststop', captured('crun-poststop.state.json', e, 'app1'), e.deps);
      await runHook('poststop', captured('crun-poststop.state.json', e, 'sandbox'), e.deps);
      assert.deepEqual(namespaces(e), [{ name: 'tenant-a', profiles: ['p'] }]);
      await runHook('poststop', captured('crun-poststop.state.json', e, 'app2'), e.deps);
      assert.deepEqual(namespaces(e), []);
    });

    it('returns skipped, touching nothing, for a container without lsmns annotations', async () => {
      const e = env({ foo: 'bar' });
      const before = readFileSyncOrNull(join(e.dir, 'sim.json'));
      const r = await runHook('createRuntime', captured('runc-createRuntime.state.json', e, 'c1', { foo: 'bar' }), e.deps);
      assert.equal(r.outcome, 'skipped');
      assert.equal(readFileSyncOrNull(join(e.dir, 'sim.json')), before);
    });

    it('refuses a hostile annotation with exit 2, names the key, and changes nothing', async () => {
      const e = env({ ...ANN, 'lsmns.io/apparmor-namespace': '../../etc' });
      await e.port.createNamespace('someone-else');
      const before = readFileSync(join(e.dir, 'sim.json'), 'utf8');
      const err = await runHook('createRuntime', captured('runc-createRuntime.state.json', e, 'c1'), e.deps).then(() => null, (x) => x as LsmnsError);
      assert.ok(err instanceof LsmnsError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /lsmns\.io\/apparmor-namespace/);
      assert.equal(readFileSync(join(e.dir, 'sim.json'), 'utf8'), before);
      assert.ok(e.log.some((l) => l.event === 'error' && l.code === err.code), 'the failure is in the structured log');
    });

    it('fails closed when the policy is missing, after waiting, and unwinds the namespace it made', async () => {
      const e = env({ ...ANN, 'lsmns.io/apparmor-policy': 'absent' });
      const err = await runHook('createRuntime', captured('runc-createRuntime.state.json', e, 'c1'), { ...e.deps, policyWaitMs: 200 }).then(() => null, (x) => x as LsmnsError);
      assert.ok(err instanceof LsmnsError);
      assert.match(err.message, /absent/);
      assert.match(err.remedy, /\S/);
      assert.deepEqual(namespaces(e), []);
    });

    it('at poststop releases from the OCI state when the bundle is already gone (issue 16, finding 6)', async () => {
      const e = env();
      await runHook('createRuntime', captured('runc-createRuntime.state.json', e, 'c1'), e.deps);
      assert.deepEqual(namespaces(e), [{ name: 'tenant-a', profiles: ['p'] }]);
      rmSync(e.bundle, { recursive: true });
      const r = await runHook('poststop', captured('runc-poststop.state.json', e, 'c1', ANN), e.deps);
      assert.equal(r.outcome, 'released');
      assert.deepEqual(namespaces(e), []);
      assert.deepEqual(readdirSync(join(e.deps.stateDir, 'owners', readdirSync(join(e.deps.stateDir, 'owners'))[0]!)), [], 'no marker left');
    });

    it('at poststop with neither a bundle nor annotations in the state, reports the bundle (exit 2)', async () => {
      const e = env();
      rmSync(e.bundle, { recursive: true });
      const err = await runHook('poststop', captured('runc-poststop.state.json', e, 'c1'), e.deps).then(() => null, (x) => x as LsmnsError);
      assert.ok(err instanceof LsmnsError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /config\.json/);
    });

    it('at poststop tolerates a bundle that is already gone when the state says the container is not ours', async () => {
      const e = env();
      const s = captured('runc-poststop.state.json', e, 'c1', { foo: 'bar' });
      const r = await runHook('poststop', { ...s, bundle: join(e.dir, 'gone') }, e.deps);
      assert.equal(r.outcome, 'skipped');
    });
  });
});

function readFileSyncOrNull(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}
