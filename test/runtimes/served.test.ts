import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killLeftoverAgents, startAgent, type RunningAgent } from '../agent/helpers.js';
import { bundle } from '../support/bundle.js';
import { FRONTS } from '../support/fronts.js';
import { ANNOTATIONS, HOOK_CLIENT, LSMNS, RUNTIMES, SHIM_FRONT, busyboxBundle, containerStatus, killAndDelete, runToFile, runtimeWrapper, simEnv, startContainerd, withoutLsmns, type Containerd, type SimEnv } from './harness.js';

// Served mode with real runtimes: the hooks are the thin client from the JSON that `lsmns install --served`
// wrote, and a real `lsmns agent` does the work. The same lifecycle as the standalone hook, and what only
// served mode has: the agent down (fail closed, the socket named), an agent restart between create and
// poststop, and the served shim through the sh front.

interface Served {
  e: SimEnv;
  hooksDir: string;
  /** The hook entries (createRuntime, poststop) from the installed hooks.d JSON, for a bundle's hooks. */
  hooks: Record<string, unknown[]>;
  agent: RunningAgent | null;
  start(): Promise<RunningAgent>;
  stop(): Promise<void>;
}

async function served(prefix: string): Promise<Served> {
  const e = await simEnv(prefix, { node: true });
  const hooksDir = join(e.dir, 'etc/containers/oci/hooks.d');
  const env = { ...process.env, ...e.env, LSMNS_POLICY_WAIT: '0' };
  // The node as install lays it out under e.dir: no LSMNS_* variable reaches install.
  const inst = runToFile(process.execPath, [LSMNS, 'install', '--root', e.dir, '--backend', 'sim', '--served'], { dir: e.dir, env: withoutLsmns(process.env) });
  assert.equal(inst.status, 0, inst.out);
  const entry = (stage: string) => {
    const doc = JSON.parse(readFileSync(join(hooksDir, `50-lsmns-${stage}.json`), 'utf8')) as { hook: { path: string; env: string[] }; stages: string[] };
    assert.deepEqual(doc.stages, [stage]);
    assert.equal(doc.hook.path, join(e.dir, 'opt/lsmns/bin/lsmns-hook-client'), 'the installed client');
    assert.deepEqual(readFileSync(doc.hook.path).subarray(0, 4), readFileSync(HOOK_CLIENT).subarray(0, 4), 'the default client is the static one make build compiled');
    assert.ok(doc.hook.env.includes(`LSMNS_SOCKET=${e.options.socket}`));
    return doc.hook;
  };
  const s: Served = {
    e, hooksDir, agent: null,
    hooks: { createRuntime: [entry('createRuntime')], poststop: [entry('poststop')] },
    start: async () => (s.agent = await startAgent({ dir: e.dir, env }, e.options.socket)),
    stop: async () => {
      if (s.agent) assert.equal(await s.agent.stop(), 0, s.agent.stderr());
      s.agent = null;
    },
  };
  return s;
}

/** The ownership markers: namespace and the containers holding it. */
function refs(e: SimEnv): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const d of spawnSync('sh', ['-c', `cat ${e.options.stateDir}/owners/*/*.json 2>/dev/null`], { encoding: 'utf8' }).stdout.split(/\n(?=\{)/).filter((x) => x.trim())) {
    const r = JSON.parse(d) as { namespace: string; refs: string[] };
    out[r.namespace] = [...r.refs].sort();
  }
  return out;
}

describe('served hooks with real runtimes', function () {
  this.timeout(180_000);
  after(killLeftoverAgents);

  for (const rt of RUNTIMES) {
    describe(rt.name, () => {
      let s: Served;
      let root: string;
      let wrapper: string;
      const call = (args: string[]) => runToFile(wrapper, ['--root', root, ...args], { dir: s.e.dir });
      const status = (id: string) => containerStatus([wrapper], root, id);
      const stopAndDelete = (id: string) => killAndDelete(call, [wrapper], root, id);
      before(async () => {
        s = await served(`lsmns-served-${rt.name}-`);
        root = join(s.e.dir, 'root');
        wrapper = runtimeWrapper(s.e.dir, rt);
        await s.start();
      });
      after(async () => {
        for (const id of ['ok1', 'p1', 'p2', 'down1', ...FRONTS.flatMap((f) => [`${f.name}1`, `${f.name}2`])]) spawnSync(wrapper, ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
        await s.stop().catch(() => {});
      });

      it('create runs the served createRuntime: namespace and profile; delete (served poststop) removes them', async () => {
        const b = busyboxBundle(s.e.dir, { name: 'ok', annotations: ANNOTATIONS, hooks: s.hooks });
        const c = call(['create', '--bundle', b, 'ok1']);
        assert.equal(c.status, 0, c.out);
        assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        assert.deepEqual(refs(s.e), { 'tenant-a': ['ok1'] });
        assert.equal(call(['start', 'ok1']).status, 0);
        assert.equal(status('ok1'), 'running');
        const d = await stopAndDelete('ok1');
        assert.equal(d.status, 0, d.out);
        assert.deepEqual(s.e.namespaces(), []);
        assert.deepEqual(refs(s.e), {});
      });

      it('the agent restarts while a pod runs: poststop after the restart still releases, references intact', async () => {
        const pod = { ...ANNOTATIONS, 'io.kubernetes.cri.sandbox-uid': '5b0e2d1e-2222-4c5e-9f10-2a3b4c5d6e7f', 'io.kubernetes.cri.sandbox-namespace': 'team-a' };
        for (const id of ['p1', 'p2']) {
          const b = busyboxBundle(s.e.dir, { name: `pod-${id}`, annotations: { ...pod, 'io.kubernetes.cri.container-name': id }, hooks: s.hooks });
          assert.equal(call(['create', '--bundle', b, id]).status, 0);
          assert.equal(call(['start', id]).status, 0);
        }
        assert.deepEqual(refs(s.e), { 'tenant-a': ['p1', 'p2'] });
        await s.stop();
        await s.start();
        assert.equal((await stopAndDelete('p1')).status, 0);
        assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        assert.deepEqual(refs(s.e), { 'tenant-a': ['p2'] });
        assert.equal((await stopAndDelete('p2')).status, 0);
        assert.deepEqual(s.e.namespaces(), []);
        assert.deepEqual(refs(s.e), {});
      });

      it('the agent is down: an annotated container does not start, the socket is named, nothing changed', async () => {
        await s.stop();
        try {
          const b = busyboxBundle(s.e.dir, { name: 'down', annotations: ANNOTATIONS, hooks: s.hooks, args: ['sh', '-c', 'echo CONTAINER-RAN'] });
          const before = s.e.bytes();
          const r = call(['run', '--bundle', b, 'down1']);
          assert.notEqual(r.status, 0, r.out);
          assert.doesNotMatch(r.out, /CONTAINER-RAN/);
          // runc shows a hook's stderr; crun only that the hook failed.
          assert.match(r.out, rt.name === 'runc' ? /error running hook/ : /createRuntime|hook/i);
          if (rt.name === 'runc') assert.match(r.out, new RegExp(`cannot reach the lsmns agent at ${s.e.options.socket}.*lsmns agent --socket`));
          assert.equal(s.e.bytes(), before);
          assert.equal(status('down1'), null, 'no container is left');
        } finally {
          await s.start();
        }
      });

      for (const front of FRONTS) it(`the served shim through the ${front.name} front: create adds the served hooks, the agent prepares and hooks run`, async () => {
        const [id1, id2] = [`${front.name}1`, `${front.name}2`];
        const b = busyboxBundle(s.e.dir, { name: `shim-${front.name}`, annotations: ANNOTATIONS });
        const env = { ...process.env, ...s.e.env, LSMNS_SHIM_MODE: 'served', LSMNS_RUNTIME: wrapper };
        const c = runToFile(front.cmd, [...front.args, '--root', root, 'create', '--bundle', b, id1], { dir: s.e.dir, env });
        assert.equal(c.status, 0, c.out);
        const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as { hooks: Record<string, { path: string; args: string[] }[]> };
        assert.deepEqual([cfg.hooks.createRuntime!.map((h) => h.args), cfg.hooks.poststop!.map((h) => h.args)], [[['lsmns-hook-client', 'createRuntime']], [['lsmns-hook-client', 'poststop']]]);
        assert.equal(cfg.hooks.createRuntime![0]!.path, HOOK_CLIENT);
        assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        assert.deepEqual(s.e.tasks().map((t) => [t.container, t.label]), [[id1, 'unconfined//&:tenant-a:p (enforce)']]);
        assert.equal(runToFile(front.cmd, [...front.args, '--root', root, 'start', id1], { dir: s.e.dir, env }).status, 0);
        assert.equal((await stopAndDelete(id1)).status, 0);
        assert.deepEqual(s.e.namespaces(), []);

        // A refusal: exit 2, the message on stderr and as a runc JSON line in --log; config.json and sim unchanged.
        const bad = busyboxBundle(s.e.dir, { name: `shim-bad-${front.name}`, annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-profile': 'x:y' } });
        const cfgBefore = readFileSync(join(bad, 'config.json'), 'utf8');
        const simBefore = s.e.bytes();
        const log = join(s.e.dir, `shim-log-${front.name}.json`);
        writeFileSync(log, '');
        const r = runToFile(front.cmd, [...front.args, '--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', bad, id2], { dir: s.e.dir, env });
        assert.equal(r.status, 2, r.out);
        assert.match(r.out, /^lsmns runtime create: .*lsmns\.io\/apparmor-profile="x:y".*remedy: /);
        const line = JSON.parse(readFileSync(log, 'utf8').trim()) as { level: string; msg: string };
        assert.equal(line.level, 'error');
        assert.equal(line.msg, r.out.trim());
        assert.equal(readFileSync(join(bad, 'config.json'), 'utf8'), cfgBefore);
        assert.equal(s.e.bytes(), simBefore);
        assert.equal(status(id2), null, 'the runtime was never called');
      });
    });
  }

  describe('the thin client under load: 100 hook processes at once', () => {
    let s: Served;
    before(async () => {
      s = await served('lsmns-served-load-');
      await s.start();
    });
    after(async () => s.stop().catch(() => {}));

    /** The installed hook as a runtime runs it: its program, argv and env, the state on stdin. */
    const hook = (stage: string, state: string) => new Promise<{ code: number | null; err: string }>((resolve) => {
      const h = s.hooks[stage]![0] as { path: string; args: string[]; env: string[] };
      const p = spawn(h.path, h.args.slice(1), { argv0: h.args[0], env: Object.fromEntries(h.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])), stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (c) => (err += c));
      p.on('close', (code) => resolve({ code, err }));
      p.stdin.end(state);
    });
    const state = (b: string, id: string, status: string, annotations: Record<string, string>) => JSON.stringify({ ociVersion: '1.0.2', id, status, pid: 4242, bundle: b, annotations });

    it('one pod: one namespace with 100 references, then none', async () => {
      const pod = { ...ANNOTATIONS, 'io.kubernetes.cri.sandbox-uid': '9d0e2d1e-3333-4c5e-9f10-2a3b4c5d6e7f' };
      const b = bundle(s.e, pod, 'load-one'); // the hooks read only config.json: no rootfs needed
      const ids = Array.from({ length: 100 }, (_, i) => `one-${i}`);
      const created = await Promise.all(ids.map((id) => hook('createRuntime', state(b, id, 'creating', pod))));
      assert.deepEqual(created.filter((r) => r.code !== 0), []);
      assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
      assert.deepEqual(refs(s.e), { 'tenant-a': [...ids].sort() });
      const stopped = await Promise.all(ids.map((id) => hook('poststop', state(b, id, 'stopped', pod))));
      assert.deepEqual(stopped.filter((r) => r.code !== 0), []);
      assert.deepEqual(s.e.namespaces(), []);
      assert.deepEqual(refs(s.e), {});
    });

    it('100 pods: 100 namespaces, then none', async () => {
      const pods = Array.from({ length: 100 }, (_, i) => ({ ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': `load-${i}` }));
      const b = pods.map((p, i) => bundle(s.e, p, `load-${i}`));
      const created = await Promise.all(pods.map((p, i) => hook('createRuntime', state(b[i]!, `c-${i}`, 'creating', p))));
      assert.deepEqual(created.filter((r) => r.code !== 0), []);
      assert.deepEqual(s.e.namespaces().map((n) => n.name).sort(), pods.map((p) => p['lsmns.io/apparmor-namespace']).sort());
      await Promise.all(pods.map((p, i) => hook('poststop', state(b[i]!, `c-${i}`, 'stopped', p))));
      assert.deepEqual(s.e.namespaces(), []);
    });
  });

  describe('podman --hooks-dir on the served hooks.d', () => {
    let s: Served;
    let rootfs: string;
    let podman: (args: string[]) => ReturnType<typeof runToFile>;
    const OURS = { 'lsmns.io/apparmor-namespace': 'tenant-p', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
    const ann = (a: Record<string, string>) => Object.entries(a).flatMap(([k, v]) => ['--annotation', `${k}=${v}`]);
    const run = (name: string, a: Record<string, string>, cmd: string[], detach = true) =>
      podman(['run', ...(detach ? ['-d'] : ['--rm']), '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann(a), '--rootfs', rootfs, ...cmd]);
    before(async () => {
      s = await served('lsmns-served-podman-');
      rootfs = join(busyboxBundle(s.e.dir), 'rootfs');
      const base = ['--root', join(s.e.dir, 'storage'), '--runroot', join(s.e.dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', '--hooks-dir', s.hooksDir];
      podman = (args) => runToFile('podman', [...base, ...args], { dir: s.e.dir });
      await s.start();
    });
    after(async () => {
      podman(['rm', '-f', '-t', '0', 'ann', 'plain', 'down']);
      await s.stop().catch(() => {});
    });

    it('an annotated container: the agent makes the namespace; rm (poststop) removes it', () => {
      const r = run('ann', OURS, ['sleep', '30']);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-p', profiles: ['p'] }]);
      assert.equal(podman(['rm', '-f', '-t', '0', 'ann']).status, 0);
      assert.deepEqual(s.e.namespaces(), []);
    });

    it('the agent is down: an unannotated container starts normally; an annotated one does not, naming the socket', async () => {
      await s.stop();
      try {
        const before = s.e.bytes();
        const plain = run('plain', { 'org.example/x': 'y' }, ['true'], false);
        assert.equal(plain.status, 0, plain.out);
        const down = run('down', OURS, ['sh', '-c', 'echo CONTAINER-RAN'], false);
        assert.notEqual(down.status, 0, down.out);
        assert.doesNotMatch(down.out, /CONTAINER-RAN/);
        assert.match(down.out, new RegExp(`cannot reach the lsmns agent at ${s.e.options.socket}`));
        assert.equal(s.e.bytes(), before);
      } finally {
        podman(['rm', '-f', 'down']);
        await s.start();
      }
    });
  });

  describe('containerd (ctr run --config) with the served hooks in the spec', () => {
    let s: Served;
    let cd: Containerd;
    before(async () => {
      s = await served('lsmns-served-containerd-');
      cd = await startContainerd(s.e.dir);
      await s.start();
    });
    const specFor = (name: string, annotations: Record<string, string>, hooks?: Record<string, unknown[]>) => {
      const b = busyboxBundle(s.e.dir, { name, annotations, ...(hooks ? { hooks } : {}) });
      const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
      cfg.root = { path: join(b, 'rootfs'), readonly: true };
      const spec = join(s.e.dir, `${name}-spec.json`);
      writeFileSync(spec, JSON.stringify(cfg));
      return spec;
    };
    after(async () => {
      for (const id of ['served1', 'shimmed1', 'refused1']) await cd.killAndDelete(id);
      await cd.stop();
      await s.stop().catch(() => {});
    });

    it('namespace while it runs, gone after delete', async () => {
      const r = cd.ctr(['run', '-d', '--null-io', '--config', specFor('ctr', ANNOTATIONS, s.hooks), 'served1']);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
      assert.equal((await cd.killAndDelete('served1')).status, 0);
      assert.deepEqual(s.e.namespaces(), []);
    });

    it('the served shim as the runc binary: annotations only; a refusal reaches ctr through --log', async () => {
      const wrapper = join(s.e.dir, 'lsmns-runc-served');
      const env = Object.entries(s.e.env).map(([k, v]) => `${k}='${v}'`).join(' ');
      writeFileSync(wrapper, `#!/bin/sh\nexport ${env} LSMNS_RUNTIME=runc LSMNS_SHIM_MODE=served PATH='${process.env.PATH}'\nexec '${SHIM_FRONT}' "$@"\n`, { mode: 0o755 });
      const r = cd.ctr(['run', '-d', '--null-io', '--runc-binary', wrapper, '--config', specFor('ctr-shim', ANNOTATIONS), 'shimmed1']);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(s.e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
      assert.deepEqual(s.e.tasks().map((t) => [t.container, t.label]), [['shimmed1', 'unconfined//&:tenant-a:p (enforce)']]);
      assert.equal((await cd.killAndDelete('shimmed1')).status, 0);
      assert.deepEqual(s.e.namespaces(), []);

      const before = s.e.bytes();
      const bad = cd.ctr(['run', '-d', '--null-io', '--runc-binary', wrapper, '--config', specFor('ctr-bad', { ...ANNOTATIONS, 'lsmns.io/apparmor-profile': 'x:y' }), 'refused1']);
      assert.notEqual(bad.status, 0);
      assert.match(bad.out, /OCI runtime create failed: lsmns runtime create: .*lsmns\.io\/apparmor-profile="x:y"/);
      assert.equal(s.e.bytes(), before);
    });
  });
});
