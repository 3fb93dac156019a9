import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveOptions, type CommonOptions } from '../../src/config.js';
import { LsmnsError } from '../../src/errors.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { OciRuntime } from '../../src/kernel/securityfs/runtime.js';
import type { Backend } from '../../src/kernel/factory.js';
import { FilePolicyStore } from '../../src/policy/store.js';
import type { HookDeps } from '../../src/oci/hook.js';
import { simView } from '../../src/kernel/sim/view.js';
import { runHook } from '../../src/oci/hook.js';
import { hookEntry, isLsmnsHook, prepareBundle, type PrepareOptions } from '../../src/oci/shim.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
const BIN = '/opt/lsmns/bin/lsmns';

interface Env { dir: string; bundle: string; config: string; port: SimKernel; backend: Backend; options: CommonOptions; opts: PrepareOptions; deps: HookDeps }

function env(annotations: Record<string, string> | undefined = ANN, extra: Record<string, unknown> = {}): Env {
  const dir = tempDir('lsmns-shim-');
  const options = resolveOptions({ simState: join(dir, 'sim.json'), stateDir: join(dir, 'state'), policyDir: join(dir, 'policies') }, {});
  mkdirSync(options.policyDir, { recursive: true });
  writeFileSync(join(options.policyDir, 'web.aa'), PROFILE_P);
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  const config = join(bundle, 'config.json');
  writeFileSync(config, JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'], cwd: '/' }, root: { path: 'rootfs' }, ...(annotations ? { annotations } : {}), ...extra }), { mode: 0o640 });
  const port = new SimKernel({ path: options.simState });
  const backend = { kernel: port, runtime: new SimRuntime(port, options.stateDir) };
  const deps = { backend, policies: new FilePolicyStore(options.policyDir), stateDir: options.stateDir, policyWaitMs: 0 };
  return { dir, bundle, config, port, backend, options, deps, opts: { backend, options, hook: { mode: 'standalone', bin: BIN }, containerId: 'c1' } };
}

function simBytes(e: Env): string {
  try {
    return readFileSync(e.options.simState, 'latin1');
  } catch {
    return '<missing>';
  }
}

const cfg = (e: Env) => JSON.parse(readFileSync(e.config, 'utf8'));

describe('oci/shim prepareBundle', () => {
  it('leaves an unannotated bundle byte-for-byte alone', async () => {
    const e = env({ foo: 'bar' });
    const before = readFileSync(e.config, 'utf8');
    const r = await prepareBundle(e.bundle, e.opts);
    assert.equal(r.outcome, 'skipped');
    assert.equal(r.changed, false);
    assert.equal(readFileSync(e.config, 'utf8'), before);
  });

  it('on a real backend writes the planned label and adds both hooks, with env, PATH and a timeout', async () => {
    const e = env();
    // The real runtime port (over the sim kernel, for its facts): the shim must then write config.json.
    const real = { ...e.opts, backend: { kernel: e.port, runtime: new OciRuntime(e.port, e.options.stateDir) } };
    const r = await prepareBundle(e.bundle, real);
    assert.equal(r.outcome, 'prepared');
    assert.equal(r.label, '&:tenant-a:p');
    assert.equal(r.labelTo, 'config');
    assert.deepEqual(r.hooksAdded, ['createRuntime', 'poststop']);
    const c = cfg(e);
    assert.equal(c.process.apparmorProfile, '&:tenant-a:p');
    assert.deepEqual(c.root, { path: 'rootfs' }, 'other fields survive');
    assert.deepEqual(c.hooks.createRuntime[0].args, ['lsmns', 'hook', 'createRuntime']);
    assert.equal(c.hooks.createRuntime[0].path, BIN);
    assert.ok(c.hooks.poststop[0].env.some((x: string) => x.startsWith('PATH=/')));
    assert.ok(c.hooks.poststop[0].env.includes(`LSMNS_STATE_DIR=${e.options.stateDir}`));
    assert.ok(c.hooks.createRuntime[0].timeout > 0);
    assert.equal(statSync(e.config).mode & 0o777, 0o640, 'the mode is kept');
    assert.deepEqual(readdirSync(e.bundle), ['config.json'], 'no temp file is left');
    // A second run (a retried create) changes nothing: the label stays, the hooks are not added twice.
    const again = await prepareBundle(e.bundle, real);
    assert.equal(again.changed, false);
    assert.deepEqual(cfg(e), c);
  });

  it('an existing profile becomes the host bound', async () => {
    const e = env(ANN, { process: { args: ['true'], apparmorProfile: 'host-prof' } });
    const r = await prepareBundle(e.bundle, { ...e.opts, backend: { kernel: e.port, runtime: new OciRuntime(e.port, e.options.stateDir) } });
    assert.equal(r.label, 'host-prof//&:tenant-a:p');
    assert.equal(cfg(e).process.apparmorProfile, 'host-prof//&:tenant-a:p');
  });

  it('on the sim leaves apparmorProfile alone; the createRuntime hook then runs the container as the label, poststop ends it', async () => {
    const e = env();
    const r = await prepareBundle(e.bundle, e.opts);
    assert.equal(r.labelTo, 'sim');
    const c = cfg(e);
    assert.equal(c.process.apparmorProfile, undefined);
    assert.equal(c.hooks.createRuntime.length, 1);
    const deps = e.deps;
    const state = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle: e.bundle, annotations: ANN };
    await runHook('createRuntime', state, deps);
    const tasks = simView(e.port.store.read(), 'x').tasks.filter((t) => t.container === 'c1');
    assert.equal(tasks.length, 1);
    assert.match(tasks[0]!.label, /&:tenant-a:p/);
    await runHook('poststop', { ...state, status: 'stopped' }, deps);
    const v = simView(e.port.store.read(), 'x');
    assert.equal(v.tasks.filter((t) => t.container === 'c1').length, 0);
    assert.deepEqual(v.namespaces.filter((n) => n.name !== 'root'), []);
  });

  it('when the sim container cannot start under the label, the hook fails and gives its reference back', async () => {
    const e = env();
    e.backend.runtime.prepare({ dir: e.bundle, containerId: 'c1', doc: {} }, { label: '&:tenant-a:missing', display: null, container: 'c1' });
    const deps = e.deps;
    const state = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle: e.bundle, annotations: ANN };
    const err = await runHook('createRuntime', state, deps).then(() => null, (x) => x as LsmnsError);
    assert.ok(err instanceof LsmnsError);
    assert.equal(err.errno, 'ENOENT');
    assert.deepEqual(simView(e.port.store.read(), 'x').namespaces.filter((n) => n.name !== 'root'), []);
  });

  it('keeps hooks lsmns already has (hooks.d or a served client) and does not add its own twice', async () => {
    const e = env(ANN, { hooks: { prestart: [{ path: '/usr/libexec/lsmns-hook-client', args: ['lsmns-hook-client', 'prestart'] }] } });
    const r = await prepareBundle(e.bundle, e.opts);
    assert.deepEqual(r.hooksAdded, ['poststop']);
    assert.equal(cfg(e).hooks.createRuntime, undefined);
  });

  it('puts its poststop before the bundle\'s own (runc stops at the first failing one) and its createRuntime after', async () => {
    const own = { path: '/bin/false', args: ['false'] };
    const e = env(ANN, { hooks: { poststop: [own], createRuntime: [own] } });
    await prepareBundle(e.bundle, e.opts);
    const h = cfg(e).hooks;
    assert.ok(isLsmnsHook(h.poststop[0], 'poststop'));
    assert.deepEqual(h.poststop[1], own);
    assert.deepEqual(h.createRuntime[0], own);
    assert.ok(isLsmnsHook(h.createRuntime[1], 'createRuntime'));
  });

  it('served mode adds the thin client with the socket', () => {
    const h = hookEntry('createRuntime', { options: resolveOptions({ socket: '/run/x.sock' }, {}), hook: { mode: 'served', bin: '/usr/libexec/lsmns-hook-client' } });
    assert.deepEqual(h.args, ['lsmns-hook-client', 'createRuntime']);
    assert.ok(h.env!.includes('LSMNS_SOCKET=/run/x.sock'));
    assert.ok(isLsmnsHook(h, 'createRuntime'));
    assert.ok(!isLsmnsHook({ path: '/usr/bin/other', args: ['other', 'createRuntime'] }, 'createRuntime'));
  });

  const hostile: [string, string, string][] = [
    ['a ".." namespace', 'lsmns.io/apparmor-namespace', 'a..b'],
    ['a ":" namespace', 'lsmns.io/apparmor-namespace', 'a:b'],
    ['a "//" profile', 'lsmns.io/apparmor-profile', 'a//b'],
    ['an "&" profile', 'lsmns.io/apparmor-profile', '&p'],
    ['a newline', 'lsmns.io/apparmor-namespace', 'a\nb'],
    ['a NUL', 'lsmns.io/apparmor-namespace', 'a\0b'],
    ['non-ASCII', 'lsmns.io/apparmor-namespace', 'tenänt'],
    ['an over-long name', 'lsmns.io/apparmor-namespace', `a${'b'.repeat(300)}`],
    ['an unknown key', 'lsmns.io/apparmor-namepsace', 'x'],
    ['a policy path', 'lsmns.io/apparmor-policy', '../../etc/passwd'],
  ];
  for (const [name, key, value] of hostile) {
    it(`refuses ${name} with exit 2, names ${key}, and changes nothing`, async () => {
      const e = env({ ...ANN, [key]: value });
      await e.port.createNamespace('someone-else');
      const before = readFileSync(e.config, 'utf8');
      const sim = simBytes(e);
      const err = await prepareBundle(e.bundle, e.opts).then(() => null, (x) => x as LsmnsError);
      assert.ok(err instanceof LsmnsError, 'refused');
      assert.equal(err.exitCode, 2);
      assert.ok(err.message.includes(key), err.message);
      assert.equal(readFileSync(e.config, 'utf8'), before);
      assert.equal(simBytes(e), sim);
      assert.deepEqual(readdirSync(e.bundle), ['config.json']);
      assert.equal(readdirSync(e.dir).includes('state'), false, 'no intent or marker written');
    });
  }

  it('refuses a bundle path with a control character, a missing bundle and a non-JSON config', async () => {
    const e = env();
    for (const b of [`${e.bundle}\n`, join(e.dir, 'nope')]) {
      const err = await prepareBundle(b, e.opts).then(() => null, (x) => x as LsmnsError);
      assert.equal(err?.exitCode, 2, b);
    }
    writeFileSync(e.config, '{"annotations":');
    const err = await prepareBundle(e.bundle, e.opts).then(() => null, (x) => x as LsmnsError);
    assert.equal(err?.exitCode, 2);
    assert.match(err!.message, /config\.json/);
  });
});
