import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS, LSMNS, RUNTIMES, SHIM_FRONT, busyboxBundle, runToFile, runtimeWrapper, shimRunner, simEnv, type SimEnv } from './harness.js';
import { waitFor } from '../support/wait.js';

// `lsmns runtime` in front of real runc and crun, on bundles that carry only annotations: the shim adds the
// hooks, the runtime runs them, and on the sim the container's task runs under the planned label.

describe('lsmns runtime (the shim) with real runtimes', function () {
  this.timeout(120_000);
  for (const rt of RUNTIMES) {
    describe(rt.name, () => {
      let e: SimEnv;
      let root: string;
      let wrapper: string;
      const { env, shim, direct, status, stop } = shimRunner(() => ({ e, root, wrapper }));
      before(async () => {
        e = await simEnv(`lsmns-shim-${rt.name}-`);
        root = join(e.dir, 'root');
        wrapper = runtimeWrapper(e.dir, rt);
      });

      it('create on a bundle with only annotations: hooks added, the sim runs the container as the label; delete ends it', async () => {
        const b = busyboxBundle(e.dir, { name: 'c', annotations: ANNOTATIONS });
        const c = shim(['create', '--bundle', b, 'c1']);
        assert.equal(c.status, 0, c.out);
        const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
        assert.equal(cfg.process.apparmorProfile, undefined, 'on the sim the real config.json keeps no AppArmor label');
        assert.equal(cfg.hooks.createRuntime.length, 1);
        assert.equal(cfg.hooks.poststop.length, 1);
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        assert.deepEqual(e.tasks().map((t) => [t.container, t.label]), [['c1', 'unconfined//&:tenant-a:p (enforce)']]);
        assert.equal(shim(['start', 'c1']).status, 0);
        assert.equal(status('c1'), 'running');
        assert.equal((await stop('c1')).status, 0);
        assert.deepEqual(e.namespaces(), []);
        assert.deepEqual(e.tasks(), []);
      });

      it('run -d in the bundle directory (no --bundle): the same, through the sh front', async () => {
        const b = busyboxBundle(e.dir, { name: 'r', annotations: ANNOTATIONS });
        const r = runToFile('sh', [SHIM_FRONT, '--root', root, 'run', '-d', 'r1'], { dir: e.dir, cwd: b, env: { ...env(), LSMNS_RUNTIME: wrapper, LSMNS_BIN: LSMNS } });
        assert.equal(r.status, 0, r.out);
        assert.equal(status('r1'), 'running');
        assert.deepEqual(e.tasks().map((t) => [t.container, t.label]), [['r1', 'unconfined//&:tenant-a:p (enforce)']]);
        assert.equal((await stop('r1')).status, 0);
        assert.deepEqual(e.namespaces(), []);
      });

      it('run in the foreground keeps the container\'s exit code, and poststop has cleaned up when it returns', () => {
        const b = busyboxBundle(e.dir, { name: 'f', annotations: ANNOTATIONS, args: ['sh', '-c', 'exit 7'] });
        const r = runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, 'run', 'f1'], { dir: e.dir, cwd: b, env: env() });
        assert.equal(r.status, 7, r.out);
        assert.deepEqual(e.namespaces(), []);
        assert.deepEqual(e.tasks(), []);
      });

      it('forwards signals to the runtime: SIGTERM reaches the container, whose exit code comes back', async () => {
        const b = busyboxBundle(e.dir, { name: 's', annotations: ANNOTATIONS, args: ['sh', '-c', 'trap "exit 42" TERM; sleep 30 & wait'] });
        const out = openSync(join(e.dir, 'signal.out'), 'w');
        const p = spawn(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, 'run', 's1'], { cwd: b, env: env(), stdio: ['ignore', out, out] });
        closeSync(out);
        await waitFor(() => status('s1') === 'running' && e.tasks().some((t) => t.container === 's1'), 's1 running', { intervalMs: 50 });
        p.kill('SIGTERM');
        const code = await new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
        assert.equal(code, 42, readFileSync(join(e.dir, 'signal.out'), 'utf8'));
        assert.deepEqual(e.namespaces(), [], 'poststop ran');
      });

      it('refuses a hostile annotation: exit 2, the key on stderr and in --log as a runc JSON line, nothing changed', () => {
        const b = busyboxBundle(e.dir, { name: 'h', annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': 'tenant\u00e4' } });
        const cfgBefore = readFileSync(join(b, 'config.json'), 'utf8');
        const simBefore = e.bytes();
        const log = join(e.dir, 'runtime-log.json');
        writeFileSync(log, '');
        const r = runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', b, 'h1'], { dir: e.dir, env: env() });
        assert.equal(r.status, 2, r.out);
        assert.match(r.out, /lsmns\.io\/apparmor-namespace/);
        const line = JSON.parse(readFileSync(log, 'utf8').trim()) as { level: string; msg: string; time: string };
        assert.equal(line.level, 'error');
        assert.match(line.msg, /lsmns\.io\/apparmor-namespace/);
        assert.ok(!Number.isNaN(Date.parse(line.time)));
        assert.equal(readFileSync(join(b, 'config.json'), 'utf8'), cfgBefore);
        assert.equal(e.bytes(), simBefore);
        const logged = readFileSync(join(e.options.stateDir, 'hook.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.ok(logged.some((l) => l.front === 'shim' && l.event === 'refused' && l.container === 'h1' && String(l.message).includes('lsmns.io/apparmor-namespace')), 'the refusal is in the structured log');
        assert.equal(status('h1'), null, 'the runtime was never called');
      });

      it('LSMNS_POLICY_WAIT given to the shim reaches the hooks it adds', () => {
        const late = { ...ANNOTATIONS, 'lsmns.io/apparmor-policy': 'late' };
        const b = busyboxBundle(e.dir, { name: 'w', annotations: late });
        const r = runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, 'create', '--bundle', b, 'w1'], { dir: e.dir, env: { ...env(), LSMNS_POLICY_WAIT: '0' } });
        assert.notEqual(r.status, 0, r.out);
        const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as { hooks: Record<string, { env: string[] }[]> };
        assert.ok(cfg.hooks.createRuntime[0]!.env.includes('LSMNS_POLICY_WAIT=0'), JSON.stringify(cfg.hooks.createRuntime));
        // crun does not show a hook's stderr; the structured log has the hook's own reason for both runtimes.
        const logged = readFileSync(join(e.options.stateDir, 'hook.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.ok(logged.some((l) => l.front === 'hook' && l.container === 'w1' && l.code === 'PolicyNotFound' && String(l.message).includes('after waiting 0 ms')), 'the hook waited 0 ms, not the 5 s default');
        direct(['delete', '--force', 'w1']);
        assert.deepEqual(e.namespaces(), []);

        const bad = busyboxBundle(e.dir, { name: 'wb', annotations: ANNOTATIONS });
        const before = readFileSync(join(bad, 'config.json'), 'utf8');
        const simBefore = e.bytes();
        const x = runToFile(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, 'create', '--bundle', bad, 'wb1'], { dir: e.dir, env: { ...env(), LSMNS_POLICY_WAIT: '5s' } });
        assert.equal(x.status, 2, x.out);
        assert.match(x.out, /LSMNS_POLICY_WAIT.*"5s".*remedy: give milliseconds/);
        assert.equal(readFileSync(join(bad, 'config.json'), 'utf8'), before);
        assert.equal(e.bytes(), simBefore);
        assert.equal(status('wb1'), null, 'the runtime was never called');
      });

      it('a create that the runtime fails before any hook ran leaves no sim intent behind', () => {
        const b = busyboxBundle(e.dir, { name: 'norootfs', annotations: ANNOTATIONS });
        rmSync(join(b, 'rootfs'), { recursive: true, force: true });
        const intents = () => {
          const dir = join(e.options.stateDir, 'sim-runtime');
          return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { bundle: string }).filter((i) => i.bundle === b) : [];
        };
        const r = shim(['create', '--bundle', b, 'nr1']);
        assert.notEqual(r.status, 0, r.out);
        assert.match(r.out, /rootfs/, 'the runtime\'s own reason');
        assert.deepEqual(intents(), []);
        assert.deepEqual(e.namespaces(), [], 'no hook ran');
        assert.deepEqual(e.tasks(), []);
        direct(['delete', '--force', 'nr1']);
      });

      it('an unannotated bundle is passed through untouched', async () => {
        const b = busyboxBundle(e.dir, { name: 'u' });
        const before = readFileSync(join(b, 'config.json'), 'utf8');
        assert.equal(shim(['create', '--bundle', b, 'u1']).status, 0);
        assert.equal(readFileSync(join(b, 'config.json'), 'utf8'), before);
        assert.equal((await stop('u1')).status, 0);
      });

      it('pass-through verbs give the runtime\'s own output and exit code', () => {
        for (const args of [['state', 'no-such'], ['list', '--format', 'json'], ['--version'], ['frobnicate']]) {
          const d = direct(args);
          const s = spawnSync(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, ...args], { encoding: 'utf8', env: env() });
          assert.equal(s.status, d.status, args.join(' '));
          assert.equal(s.stdout, d.stdout, args.join(' '));
          const t = (x: string) => x.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, 'T');
          assert.equal(t(s.stderr), t(d.stderr), args.join(' '));
        }
      });

      after(() => {
        for (const id of ['c1', 'r1', 'f1', 's1', 'h1', 'u1']) direct(['delete', '--force', id]);
      });
    });
  }
});
