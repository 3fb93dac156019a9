import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS, RUNTIMES, busyboxBundle, containerStatus, killAndDelete, runToFile, simEnv, tempDir, type Runtime, type SimEnv } from './harness.js';
import { waitFor } from '../support/wait.js';

// The standalone hook under real runc and crun: the runtime runs `lsmns hook` from config.json's hooks, the
// sim shows the namespace and the policy after create, and delete (poststop) removes them.

function rtCall(rt: Runtime, root: string, dir: string) {
  return (args: string[], env: NodeJS.ProcessEnv = process.env) => runToFile(rt.argv0[0]!, [...rt.argv0.slice(1), '--root', root, ...args], { dir, env });
}

const stateOf = (rt: Runtime, root: string, id: string) => containerStatus(rt.argv0, root, id);

/** kill + wait for stopped + delete, which runs poststop. */
const stopAndDelete = (rt: Runtime, root: string, dir: string, id: string) => killAndDelete(rtCall(rt, root, dir), rt.argv0, root, id);

describe('lsmns hook under real runtimes', function () {
  this.timeout(120_000);
  for (const rt of RUNTIMES) {
    describe(rt.name, () => {
      let e: SimEnv;
      let root: string;
      before(async () => {
        e = await simEnv(`lsmns-hook-${rt.name}-`);
        root = join(e.dir, 'root');
      });

      it('create runs createRuntime: namespace and profile; start runs; delete (poststop) removes them', async () => {
        const b = busyboxBundle(e.dir, { name: 'ok', annotations: ANNOTATIONS, hooks: e.hooks() });
        const call = rtCall(rt, root, e.dir);
        const c = call(['create', '--bundle', b, 'ok1']);
        assert.equal(c.status, 0, c.out);
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        const s = call(['start', 'ok1']);
        assert.equal(s.status, 0, s.out);
        assert.equal(stateOf(rt, root, 'ok1'), 'running');
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        const d = await stopAndDelete(rt, root, e.dir, 'ok1');
        assert.equal(d.status, 0, d.out);
        assert.deepEqual(e.namespaces(), []);
      });

      // runc keeps the hooks in its own state and runs poststop with the OCI state; crun reads them from the
      // bundle's config.json, so with the bundle gone it runs no poststop and lsmns is never called (GC's case).
      const runsPoststopWithoutBundle = rt.name === 'runc';
      (runsPoststopWithoutBundle ? it : it.skip)('poststop releases the namespace when the bundle is already gone (issue 16, finding 6)', async () => {
        const b = busyboxBundle(e.dir, { name: 'gone', annotations: ANNOTATIONS, hooks: e.hooks() });
        const call = rtCall(rt, root, e.dir);
        const c = call(['create', '--bundle', b, 'gone1']);
        assert.equal(c.status, 0, `${c.signal} ${c.out}`);
        assert.equal(call(['start', 'gone1']).status, 0);
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        call(['kill', 'gone1', 'KILL']);
        await waitFor(() => stateOf(rt, root, 'gone1') === 'stopped', 'gone1 stopped');
        rmSync(b, { recursive: true, force: true });
        const d = call(['delete', 'gone1']);
        assert.equal(d.status, 0, d.out);
        assert.deepEqual(e.namespaces(), [], 'released from the state the runtime passed');
        assert.doesNotMatch(readFileSync(join(e.options.stateDir, 'hook.log'), 'utf8').trim().split('\n').pop()!, /"event":"error"/);
      });

      it('a hostile annotation makes create fail, names the key, and leaves the sim byte-for-byte unchanged', () => {
        const b = busyboxBundle(e.dir, { name: 'bad', annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-profile': 'p//&:other:x' }, hooks: e.hooks() });
        const before = e.bytes();
        const c = rtCall(rt, root, e.dir)(['create', '--bundle', b, 'bad1']);
        assert.notEqual(c.status, 0, 'create must fail');
        // runc shows the hook's stderr; crun only its exit code, so the reason is read from lsmns's hook log.
        const why = rt.name === 'runc' ? c.out : readFileSync(join(e.options.stateDir, 'hook.log'), 'utf8').trim().split('\n').pop()!;
        assert.match(why, /lsmns\.io\/apparmor-profile/);
        assert.match(why, /remedy/);
        assert.equal(e.bytes(), before);
        assert.equal(stateOf(rt, root, 'bad1'), null, 'no container is left');
      });

      it('a container without lsmns annotations runs, and the hook does nothing', async () => {
        const b = busyboxBundle(e.dir, { name: 'plain', annotations: { 'org.example/x': 'y' }, hooks: e.hooks() });
        const before = e.bytes();
        const call = rtCall(rt, root, e.dir);
        assert.equal(call(['create', '--bundle', b, 'plain1']).status, 0);
        assert.equal((await stopAndDelete(rt, root, e.dir, 'plain1')).status, 0);
        assert.equal(e.bytes(), before);
      });

      it('two containers of one pod, created concurrently: one namespace, removed after the second stops', async () => {
        const pod = { ...ANNOTATIONS, 'io.kubernetes.cri.sandbox-uid': '0f7c2d1e-1111-4c5e-9f10-2a3b4c5d6e7f', 'io.kubernetes.cri.sandbox-namespace': 'team-a' };
        const bundles = ['a', 'b'].map((n) => busyboxBundle(e.dir, { name: `pod-${n}`, annotations: { ...pod, 'io.kubernetes.cri.container-name': n }, hooks: e.hooks() }));
        // Concurrent creates: both hooks race for the namespace; the per-namespace lock makes one create it.
        const codes = await Promise.all(bundles.map((b, i) => new Promise<number | null>((res) => {
          const p = spawn(rt.argv0[0]!, [...rt.argv0.slice(1), '--root', root, 'create', '--bundle', b, `pod-${i}`], { stdio: 'ignore' });
          p.on('exit', (code) => res(code));
        })));
        assert.deepEqual(codes, [0, 0]);
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
        assert.equal((await stopAndDelete(rt, root, e.dir, 'pod-0')).status, 0);
        assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }], 'the second container still holds it');
        assert.equal((await stopAndDelete(rt, root, e.dir, 'pod-1')).status, 0);
        assert.deepEqual(e.namespaces(), []);
      });

      after(() => {
        for (const id of ['ok1', 'bad1', 'plain1', 'pod-0', 'pod-1']) rtCall(rt, root, tempDir())(['delete', '--force', id]);
      });
    });
  }
});
