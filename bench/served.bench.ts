// Served hooks (SPEC §7), every ratio against a baseline measured in the same run, interleaved, medians:
// - `runc run` of busybox /bin/true with the served createRuntime + poststop hooks against the same run
//   without hooks: limit 1.5x, aim 1.25x; the standalone hooks' ratio beside it (no limit); and runc
//   create + start + delete with the served hooks against without (issue 3's limit, 1.5x);
// - one served hook call end to end (the static thin client, the agent, a real create or release): median
//   at most 10 ms; the sh + socat client is printed beside it, and `curl --unix-socket` to /healthz as a
//   transport floor;
// - the standalone `lsmns hook createRuntime` cold path against `node -e 0`: limit 1.2x;
// - the agent's throughput from 16 concurrent clients, and its RSS when idle and after the load.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, ok, ratioLine, timeInterleaved, wall } from './util.js';
import { benchSim, runcLifecycle } from './bundle.js';
import { busyboxBundle as benchBundle } from '../test/runtimes/harness.js';
import type { BenchModule } from './run.js';

const N = Number(process.env.LSMNS_BENCH_N ?? 30);
const LSMNS = fileURLToPath(new URL('../../bin/lsmns.cjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('../native/lsmns-hook-client', import.meta.url));
const SH_CLIENT = fileURLToPath(new URL('../../hooks/lsmns-hook-client', import.meta.url));
const ANN = { 'lsmns.io/apparmor-namespace': 'bench', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };
const HOOK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function post(socket: string, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bench: BenchModule = {
  title: 'served hooks (lsmns agent + thin client) against no hooks and the standalone hook',
  async run() {
    const e = benchSim('lsmns-bench-served-');
    const socket = join(e.dir, 'run', 'agent.sock');
    const env = { PATH: process.env.PATH ?? HOOK_PATH, ...e.env, LSMNS_SOCKET: socket, LSMNS_POLICY_WAIT: '0' };
    const agent = spawn(process.execPath, [LSMNS, 'agent'], { env, stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      for (let i = 0; i < 200 && !(existsSync(socket) && spawnSync('curl', ['-sf', '--unix-socket', socket, 'http://lsmns/healthz']).status === 0); i++) spawnSync('sleep', ['0.05']);
      const idleRss = rssKiB(agent.pid!);

      const served = (stage: string) => ({ path: CLIENT, args: ['lsmns-hook-client', stage], env: [`PATH=${HOOK_PATH}`, `LSMNS_SOCKET=${socket}`], timeout: 10 });
      const standalone = (stage: string) => ({ path: process.execPath, args: ['node', LSMNS, 'hook', stage], env: [`PATH=${HOOK_PATH}`, ...Object.entries(e.env).map(([k, v]) => `${k}=${v}`), 'LSMNS_POLICY_WAIT=0'], timeout: 10 });
      const bare = benchBundle(e.dir, { name: 'bare', annotations: ANN, args: ['true'] });
      const withServed = benchBundle(e.dir, { name: 'served', annotations: ANN, args: ['true'], hooks: { createRuntime: [served('createRuntime')], poststop: [served('poststop')] } });
      const withStandalone = benchBundle(e.dir, { name: 'standalone', annotations: ANN, args: ['true'], hooks: { createRuntime: [standalone('createRuntime')], poststop: [standalone('poststop')] } });
      const root = join(e.dir, 'runc-root');
      const runcRun = (b: string, id: string) => wall(() => ok(spawnSync('runc', ['--root', root, 'run', '--bundle', b, id], { stdio: ['ignore', 'ignore', 'pipe'] }), `runc run ${id}`));
      const lifecycle = (b: string, id: string) => wall(() => runcLifecycle(root, e.dir, b, id));

      // The hooks really work: one served create leaves the namespace, and delete (poststop) removes it.
      // create's init keeps its stdio open until start: never a pipe that spawnSync would wait on.
      const errFile = join(e.dir, 'create.err');
      const fd = openSync(errFile, 'w');
      const created = spawnSync('runc', ['--root', root, 'create', '--bundle', withServed, 'check'], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      ok({ status: created.status, stderr: readFileSync(errFile, 'utf8') }, 'runc create (served)');
      if (!e.namespaces().includes('bench')) throw new Error('the served createRuntime hook did not create the namespace');
      ok(spawnSync('runc', ['--root', root, 'delete', '--force', 'check'], { stdio: ['ignore', 'ignore', 'pipe'] }), 'runc delete (served)');
      if (e.namespaces().length !== 0) throw new Error('the served poststop hook did not remove the namespace');

      const state = (status: string) => JSON.stringify({ ociVersion: '1.0.2', id: 'bench-1', status, pid: 4242, bundle: bare, annotations: ANN });
      const client = (stage: string, input: string, cmd = [CLIENT]) => wall(() => ok(spawnSync(cmd[0]!, [...cmd.slice(1), stage], { input, env, stdio: ['pipe', 'ignore', 'pipe'] }), `client ${stage}`));
      const hook = (stage: string, input: string) => wall(() => ok(spawnSync(process.execPath, [LSMNS, 'hook', stage], { input, env, stdio: ['pipe', 'ignore', 'pipe'] }), `lsmns hook ${stage}`));
      const t = timeInterleaved({
        runcBare: runcRun(bare, 'b'),
        runcServed: runcRun(withServed, 's'),
        runcStandalone: runcRun(withStandalone, 'h'),
        lifeBare: lifecycle(bare, 'lb'),
        lifeServed: lifecycle(withServed, 'ls'),
        servedCreate: client('createRuntime', state('creating')),
        servedStop: client('poststop', state('stopped')),
        shCreate: client('createRuntime', state('creating'), ['sh', SH_CLIENT]),
        shStop: client('poststop', state('stopped'), ['sh', SH_CLIENT]),
        curl: wall(() => ok(spawnSync('curl', ['-sf', '--unix-socket', socket, 'http://lsmns/healthz'], { stdio: 'ignore' }), 'curl')),
        socat: wall(() => ok(spawnSync('sh', ['-c', `printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | socat - UNIX-CONNECT:${socket}`], { stdio: 'ignore' }), 'socat')),
        node: wall(() => ok(spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' }), 'node -e 0')),
        hookCreate: hook('createRuntime', state('creating')),
        hookStop: hook('poststop', state('stopped')),
      }, N, 3);
      if (e.namespaces().length !== 0) throw new Error(`namespaces left behind: ${e.namespaces().join(', ')}`);

      const bareMs = median(t.runcBare!);
      console.log(`  ${N} interleaved runs each, medians. runc run busybox /bin/true without hooks: ${fmt(bareMs)}`);
      console.log(ratioLine('runc run with the served hooks (aim 1.25x)', median(t.runcServed!), bareMs, 1.5));
      console.log(ratioLine('runc run with the standalone hooks (no limit)', median(t.runcStandalone!), bareMs));
      const lifeMs = median(t.lifeBare!);
      console.log(`  runc create + start + delete without hooks: ${fmt(lifeMs)}`);
      console.log(ratioLine('the same with the served hooks', median(t.lifeServed!), lifeMs, 1.5));
      const call = median([...t.servedCreate!, ...t.servedStop!]);
      console.log(`  one served hook call, end to end: createRuntime ${fmt(median(t.servedCreate!))}, poststop ${fmt(median(t.servedStop!))}; median ${fmt(call)} (limit 10 ms: ${call <= 10 ? 'ok' : 'OVER'})`);
      console.log(`  the same through the sh + socat client (the fallback): median ${fmt(median([...t.shCreate!, ...t.shStop!]))}`);
      const curl = median(t.curl!);
      console.log(`  transport floors, GET /healthz: curl --unix-socket ${fmt(curl)} (SPEC's reference machine: 7 ms), sh + socat ${fmt(median(t.socat!))}`);
      console.log(`  served call against curl's floor in this run: ${(call / curl).toFixed(2)}x (scaled to the reference machine's 7 ms curl: about ${fmt((call / curl) * 7)})`);
      const node = median(t.node!);
      console.log(`  baseline node -e 0: ${fmt(node)}`);
      console.log(ratioLine('lsmns hook createRuntime, standalone cold path', median(t.hookCreate!), node, 1.2));
      console.log(ratioLine('lsmns hook poststop, standalone cold path', median(t.hookStop!), node));

      // Throughput: 16 clients, each a pod of its own, create and release in a loop for a fixed time.
      const seconds = Number(process.env.LSMNS_BENCH_SECONDS ?? 3);
      const pods = Array.from({ length: 16 }, (_, i) => {
        const ann = { ...ANN, 'lsmns.io/apparmor-namespace': `bench-${i}` };
        const b = benchBundle(e.dir, { name: `pod-${i}`, annotations: ann, args: ['true'] });
        return (status: string) => JSON.stringify({ ociVersion: '1.0.2', id: `c-${i}`, status, pid: 4242, bundle: b, annotations: ann });
      });
      let calls = 0;
      const end = Date.now() + seconds * 1000;
      const t0 = process.hrtime.bigint();
      await Promise.all(pods.map(async (st) => {
        while (Date.now() < end) {
          for (const [stage, status] of [['createRuntime', 'creating'], ['poststop', 'stopped']] as const) {
            const code = await post(socket, `/v1/hooks/${stage}`, st(status));
            if (code !== 200) throw new Error(`${stage}: HTTP ${code}`);
            calls++;
          }
        }
      }));
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(`  agent throughput, 16 concurrent clients (one pod each, create + release): ${(calls / secs).toFixed(0)} hook calls/s (${calls} calls in ${secs.toFixed(1)} s)`);
      console.log(`  agent RSS: idle ${(idleRss / 1024).toFixed(1)} MiB, after the load ${(rssKiB(agent.pid!) / 1024).toFixed(1)} MiB`);
    } finally {
      agent.kill('SIGTERM');
      spawnSync('runc', ['--root', join(e.dir, 'runc-root'), 'delete', '--force', 'check'], { stdio: 'ignore' });
      await new Promise((r) => (agent.exitCode === null ? agent.once('exit', r) : r(null)));
      rmSync(e.dir, { recursive: true, force: true });
    }
  },
};
export default bench;
