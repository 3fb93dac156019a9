import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { systemdListenFd } from '../../src/agent/agent.js';
import { OWNER_FORMAT_VERSION, OwnershipStore, type OwnerRecord } from '../../src/apply/ownership.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { BIN, cliEnv, lsmns, type CliEnv } from '../commands/cli.js';
import { bundle, ociState } from '../support/bundle.js';
import { nodeSnapshot } from '../support/state.js';
import { waitFor } from '../support/wait.js';
import { ANN, call, client, CLIENTS, killLeftoverAgents, rawPost, post, startAgent, type RunningAgent } from './helpers.js';

const namespaces = (e: CliEnv) => new SimKernel({ path: e.sim }).listNamespaces();

/** The ownership markers (one per namespace lsmns created), as the executor wrote them. */
function owners(e: CliEnv): { namespace: string; refs: string[] }[] {
  const root = join(e.stateDir, 'owners');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(root, d, f), 'utf8'))));
}

describe('lsmns agent (served hooks, a real agent process)', function () {
  this.timeout(60_000);
  let e: CliEnv;
  let a: RunningAgent;
  before(async () => {
    e = cliEnv();
    e.env.LSMNS_POLICY_WAIT = '0';
    a = await startAgent(e);
  });
  after(async () => {
    if (a.proc.exitCode === null) await a.stop();
    killLeftoverAgents();
  });

  it('the socket is root-only in a 0700 directory, and logs are JSON lines on stderr', async () => {
    assert.equal(lstatSync(a.socket).mode & 0o777, 0o600);
    assert.equal(lstatSync(join(a.socket, '..')).mode & 0o777, 0o700);
    await waitFor(() => a.stderr().includes('\n'), 'the first log line');
    for (const line of a.stderr().trim().split('\n')) assert.equal(typeof JSON.parse(line).level, 'number', line);
  });

  describe('one implementation, two front doors: the thin client and `lsmns hook` answer alike', () => {
    const cases: [string, (e: CliEnv) => [string, string]][] = [
      ['a hostile annotation', (e) => { const bad = { ...ANN, 'lsmns.io/apparmor-profile': 'web\nevil' }; return ['createRuntime', ociState(bundle(e, bad), 'c1', bad)]; }],
      ['a missing policy', (e) => { const m = { ...ANN, 'lsmns.io/apparmor-policy': 'absent' }; return ['createRuntime', ociState(bundle(e, m), 'c1', m)]; }],
      ['malformed state JSON', () => ['createRuntime', '{"ociVersion":']],
      ['a state without a bundle', () => ['poststop', JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'stopped' })]],
      ['a relative bundle', () => ['createRuntime', ociState('relative/dir', 'c1', ANN)]],
      ['a bundle without config.json', (e) => ['createRuntime', ociState(join(e.dir, 'nowhere'), 'c1', ANN)]],
      ['an unannotated container', (e) => ['createRuntime', ociState(bundle(e, { foo: 'bar' }), 'c1', { foo: 'bar' })]],
      ['a namespace owned by another pod', (e) => { const o = { ...ANN, 'lsmns.io/apparmor-namespace': 'taken', 'io.kubernetes.cri.sandbox-uid': 'other' }; return ['createRuntime', ociState(bundle(e, o), 'c9', o)]; }],
    ];
    describe('refusals and no-ops', () => {
      // The namespace "taken" belongs to pod u-1 while these run; each case asserts that it changed nothing.
      const own = { ...ANN, 'lsmns.io/apparmor-namespace': 'taken' };
      before(() => {
        const standalone = lsmns(e, ['hook', 'createRuntime'], ociState(bundle(e, own), 'owner', own));
        assert.equal(standalone.code, 0, standalone.stderr);
      });
      after(() => assert.equal(lsmns(e, ['hook', 'poststop'], ociState(bundle(e, own), 'owner', own)).code, 0));
      for (const [name, make] of cases) {
        it(name, async () => {
          const [stage, input] = make(e);
          const before = nodeSnapshot(e);
          const s = lsmns(e, ['hook', stage], input);
          assert.equal(nodeSnapshot(e), before, 'the standalone hook changed nothing');
          for (const which of CLIENTS) {
            const c = await client(a.socket, stage, input, process.env, which);
            assert.equal(nodeSnapshot(e), before, `the served hook (${which.name} client) changed nothing`);
            assert.equal(c.code, s.code, `exit codes: served (${which.name}) ${c.stderr} standalone ${s.stderr}`);
            assert.equal(c.stderr, s.stderr, which.name);
          }
        });
      }
    });

    for (const which of CLIENTS) {
      it(`a pretty-printed state with a final newline and non-ASCII: the ${which.name} client sends it whole`, async () => {
        const ann = { ...ANN, 'org.example/note': 'caf\u00e9 \\ "q" \u2603' };
        const b = bundle(e, ann);
        const text = (status: string) => `${JSON.stringify({ ...JSON.parse(ociState(b, 'pretty', ann)), status }, null, 2)}\n`;
        assert.deepEqual(await client(a.socket, 'createRuntime', text('creating'), process.env, which), { code: 0, stderr: '' });
        assert.deepEqual(owners(e).map((o) => o.refs), [['pretty']]);
        assert.deepEqual(await client(a.socket, 'poststop', text('stopped'), process.env, which), { code: 0, stderr: '' });
        assert.deepEqual(owners(e), []);
      });
    }

    it('a container start and stop: exit 0, and `lsmns sim show` sees the namespace come and go', async () => {
      const b = bundle(e, ANN);
      assert.deepEqual(await client(a.socket, 'createRuntime', ociState(b, 'c1', ANN)), { code: 0, stderr: '' });
      assert.match(lsmns(e, ['sim', 'show']).stdout, /:tenant-a:/);
      assert.deepEqual(owners(e).map((o) => o.refs), [['c1']]);
      assert.deepEqual(await client(a.socket, 'poststop', ociState(b, 'c1', ANN)), { code: 0, stderr: '' });
      assert.doesNotMatch(lsmns(e, ['sim', 'show']).stdout, /:tenant-a:/);
      assert.deepEqual(owners(e), []);
    });
  });

  describe('hostile requests: a clear error, and nothing changes', () => {
    const fifoBundle = () => {
      const b = join(e.dir, 'fifo-bundle');
      mkdirSync(b, { recursive: true });
      if (!existsSync(join(b, 'config.json'))) execFileSync('mkfifo', [join(b, 'config.json')]);
      return b;
    };
    const cases: [string, () => Promise<{ status: number; body: string; exit?: string }>, number, RegExp][] = [
      ['malformed JSON', () => post(a.socket, '/v1/hooks/createRuntime', '{"ociVersion": "1.0.2", '), 400, /not valid JSON/],
      ['a JSON array', () => post(a.socket, '/v1/hooks/createRuntime', '[1,2]'), 400, /OCI state on stdin/],
      ['a huge body', () => rawPost(a.socket, '/v1/hooks/createRuntime', Buffer.alloc(600 * 1024, 'x')), 400, /request body over 524288 bytes/],
      ['a huge body without a length (chunked)', () => rawPost(a.socket, '/v1/hooks/createRuntime', Buffer.alloc(600 * 1024, 'x'), true), 400, /request body over 524288 bytes/],
      ['an unknown stage', () => post(a.socket, '/v1/hooks/poststart', ociState(bundle(e, ANN), 'c1', ANN)), 400, /unknown hook stage "poststart"/],
      ['a stage with odd characters', () => post(a.socket, '/v1/hooks/%00%0a', '{}'), 400, /unknown hook stage/],
      ['a bundle with .. segments', () => post(a.socket, '/v1/hooks/createRuntime', ociState(`${bundle(e, ANN)}/../x`, 'c1', ANN)), 400, /not normalised/],
      ['a bundle with a control character', () => post(a.socket, '/v1/hooks/createRuntime', ociState(`${e.dir}/a\u001bb`, 'c1', ANN)), 400, /control character/],
      ['a config.json that is a FIFO (would stall a reader)', () => post(a.socket, '/v1/hooks/createRuntime', ociState(fifoBundle(), 'c1', ANN)), 400, /not a regular file/],
      ['GET on a hook', () => call(a.socket, 'GET', '/v1/hooks/createRuntime'), 400, /GET is not allowed/],
      ['DELETE on a hook', () => call(a.socket, 'DELETE', '/v1/hooks/poststop'), 400, /DELETE is not allowed/],
      ['an unknown path', () => post(a.socket, '/v2/anything', '{}'), 400, /no such endpoint POST \/v2\/anything/],
      ['a path escaping the API', () => post(a.socket, '/v1/hooks/../../etc/passwd', '{}'), 400, /no such endpoint/],
    ];
    for (const [name, req, status, re] of cases) {
      it(name, async () => {
        const before = nodeSnapshot(e);
        const r = await req();
        assert.equal(r.status, status, r.body);
        assert.match(r.body, re);
        assert.equal(r.body.trim().split('\n').length, 1, 'one line');
        assert.equal(nodeSnapshot(e), before);
      });
    }
    const form = (f: [string, string][]) => new URLSearchParams(f).toString();
    const shim = (body: string, type = 'application/x-www-form-urlencoded') => call(a.socket, 'POST', '/v1/shim/prepare', body, { 'content-type': type });
    const shimCases: [string, () => Promise<{ status: number; body: string }>, number, RegExp][] = [
      ['shim: JSON instead of a form', () => shim('{"bundle":"/x"}', 'application/json'), 400, /content type "application\/json"/],
      ['shim: no bundle', () => shim(form([['runtime', 'runc']])), 400, /needs a bundle field/],
      ['shim: a relative bundle', () => shim(form([['bundle', 'rel/dir']])), 400, /bundle path "rel\/dir" is not absolute/],
      ['shim: a bundle with .. segments', () => shim(form([['bundle', `${bundle(e, ANN)}/..`]])), 400, /not normalised/],
      ['shim: a FIFO config.json', () => shim(form([['bundle', join(e.dir, 'fifo-bundle')]])), 400, /not a regular file/],
      ['shim: crun --config elsewhere', () => shim(form([['bundle', bundle(e, ANN)], ['arg', 'create'], ['arg', '--config'], ['arg', '/etc/passwd'], ['arg', 'c1']])), 400, /--config "\/etc\/passwd"/],
      ['shim: a hostile annotation', () => { const bad = { ...ANN, 'lsmns.io/apparmor-profile': 'x:y' }; return shim(form([['bundle', bundle(e, bad)], ['arg', '--log-format'], ['arg', 'json'], ['arg', 'create'], ['arg', 'c1']])); }, 400, /^lsmns runtime create: .*lsmns\.io\/apparmor-profile="x:y".*\n\{"level":"error","msg":"lsmns runtime create: /],
      ['shim: GET', () => call(a.socket, 'GET', '/v1/shim/prepare'), 400, /GET is not allowed on \/v1\/shim\/prepare/],
    ];
    for (const [name, req, status, re] of shimCases) {
      it(name, async () => {
        fifoBundle();
        const before = nodeSnapshot(e);
        const r = await req();
        assert.equal(r.status, status, r.body);
        assert.match(r.body, re);
        assert.equal(nodeSnapshot(e), before);
      });
    }
    it('the agent still serves after all of them', async () => {
      assert.equal((await call(a.socket, 'GET', '/healthz')).status, 200);
    });
  });

  describe('concurrency', () => {
    it('100 concurrent calls for one pod: one namespace, 100 references, then none', async () => {
      const b = bundle(e, ANN);
      const ids = Array.from({ length: 100 }, (_, i) => `c${i}`);
      const created = await Promise.all(ids.map((id) => post(a.socket, '/v1/hooks/createRuntime', ociState(b, id, ANN))));
      assert.deepEqual([...new Set(created.map((r) => r.status))], [200], created.find((r) => r.status !== 200)?.body);
      assert.deepEqual(await namespaces(e), ['tenant-a']);
      const [o] = owners(e);
      assert.deepEqual([...o!.refs].sort(), [...ids].sort());
      const stopped = await Promise.all(ids.map((id) => post(a.socket, '/v1/hooks/poststop', ociState(b, id, ANN))));
      assert.deepEqual([...new Set(stopped.map((r) => r.status))], [200]);
      assert.deepEqual(await namespaces(e), []);
      assert.deepEqual(owners(e), []);
    });

    it('100 concurrent calls for 100 pods: 100 namespaces, then none', async () => {
      const pods = Array.from({ length: 100 }, (_, i) => ({ ...ANN, 'lsmns.io/apparmor-namespace': `t${i}`, 'io.kubernetes.cri.sandbox-uid': `u${i}` }));
      const bundles = pods.map((p, i) => bundle(e, p, `pod${i}`));
      const created = await Promise.all(pods.map((p, i) => post(a.socket, '/v1/hooks/createRuntime', ociState(bundles[i]!, `p${i}`, p))));
      assert.deepEqual([...new Set(created.map((r) => r.status))], [200], created.find((r) => r.status !== 200)?.body);
      assert.deepEqual((await namespaces(e)).sort(), pods.map((p) => p['lsmns.io/apparmor-namespace']).sort());
      assert.equal(owners(e).filter((o) => o.refs.length === 1).length, 100);
      await Promise.all(pods.map((p, i) => post(a.socket, '/v1/hooks/poststop', ociState(bundles[i]!, `p${i}`, p))));
      assert.deepEqual(await namespaces(e), []);
    });
  });

  describe('lifecycle', () => {
    it('a second agent on a live socket is refused (exit 3), naming the socket', () => {
      const r = lsmns({ ...e, env: { ...e.env, LSMNS_SOCKET: a.socket } }, ['agent']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, new RegExp(`another lsmns agent is listening on ${a.socket}`));
    });

    it('SIGTERM finishes the request in flight, removes the socket and exits 0; a restarted agent releases', async () => {
      const late = { ...ANN, 'lsmns.io/apparmor-namespace': 'late', 'lsmns.io/apparmor-policy': 'late' };
      const b = bundle(e, late);
      const e2 = { ...e, env: { ...e.env, LSMNS_POLICY_WAIT: '3000' } };
      const a2 = await startAgent(e2, join(e.dir, 'run2', 'agent.sock'));
      const pending = post(a2.socket, '/v1/hooks/createRuntime', ociState(b, 'c1', late));
      await new Promise((r) => setTimeout(r, 500)); // The hook is now waiting for the policy.
      a2.proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(a2.proc.exitCode, null, 'still draining');
      writeFileSync(join(e.policyDir, 'team-a', 'late.aa'), readFileSync(join(e.policyDir, 'team-a', 'web.aa'), 'utf8'));
      const r = await pending;
      assert.equal(r.status, 200, r.body);
      assert.equal(await a2.exited, 0);
      assert.equal(existsSync(a2.socket), false);
      assert.match(a2.stderr(), /"event":"stopped"/);
      // The agent keeps nothing in memory: another one releases what the first created.
      const a3 = await startAgent(e2, a2.socket);
      assert.deepEqual(await client(a3.socket, 'poststop', ociState(b, 'c1', late)), { code: 0, stderr: '' });
      assert.equal((await namespaces(e)).includes('late'), false);
      assert.equal(await a3.stop(), 0);
      rmSync(join(e.policyDir, 'team-a', 'late.aa'));
    });

    it('systemd socket activation: started on the first connection, serves fd 3, leaves the socket in place', async () => {
      // systemd-socket-activate (from systemd) binds the socket and execs the agent with LISTEN_FDS/LISTEN_PID on
      // the first connection, as lsmns-agent.socket does. It starts the agent with a clean environment (-E adds).
      const dir = join(e.dir, 'sd');
      mkdirSync(dir, { mode: 0o700 });
      const socket = join(dir, 'agent.sock');
      const sd = await startAgent(e, socket, [], { cmd: 'systemd-socket-activate', args: ['-l', socket, ...Object.entries(e.env).filter(([k]) => k.startsWith('LSMNS_')).map(([k, v]) => `-E${k}=${v}`), process.execPath, BIN, 'agent'] });
      assert.match(sd.stderr(), /"socket":"fd 3"/);
      const b = bundle(e, ANN);
      assert.deepEqual(await client(socket, 'createRuntime', ociState(b, 'sd1', ANN)), { code: 0, stderr: '' });
      assert.deepEqual(await namespaces(e), ['tenant-a']);
      assert.deepEqual(await client(socket, 'poststop', ociState(b, 'sd1', ANN)), { code: 0, stderr: '' });
      assert.equal(await sd.stop(), 0);
      assert.ok(lstatSync(socket).isSocket(), 'systemd owns the socket');
    });
  });
});

describe('lsmns agent without --node runs GC (a real agent process)', function () {
  this.timeout(60_000);
  after(() => killLeftoverAgents());

  it('at start and every --gc-interval: only marked namespaces of this boot whose holders are gone, and it logs why', async () => {
    const e = cliEnv();
    const sim = new SimKernel({ path: e.sim });
    const owners = new OwnershipStore({ stateDir: e.stateDir, backend: 'sim', bootId: await sim.bootId() });
    const mark = async (namespace: string, o: Partial<OwnerRecord>) => {
      if (o.state !== 'creating') await sim.createNamespace(namespace);
      owners.put({ formatVersion: OWNER_FORMAT_VERSION, namespace, podKey: `sandbox:${namespace}`, pod: { name: null, namespace: null, uid: null }, sandboxId: namespace, state: 'ready', refs: [], policy: null, createdAt: new Date().toISOString(), createdByPid: 1, identity: await sim.namespaceIdentity(namespace), ...o });
    };
    await mark('released', { refs: [] }); // its containers are gone, but the namespace stayed (a failed poststop)
    await mark('held', { refs: ['c1'] });
    await mark('crashed', { state: 'creating' });
    await sim.createNamespace('foreign');
    const oldBoot = join(owners.root, 'sim-00000000-0000-4000-8000-000000000000');
    mkdirSync(oldBoot, { recursive: true });
    writeFileSync(join(oldBoot, 'foreign.json'), JSON.stringify({ namespace: 'foreign', refs: [] }));
    const a = await startAgent(e, join(e.dir, 'run', 'agent.sock'), ['--gc-grace', '0', '--gc-interval', '1']);
    try {
      await waitFor(() => !owners.get('released') && !owners.get('crashed'), 'GC at start');
      assert.deepEqual((await namespaces(e)).sort(), ['foreign', 'held']);
      assert.equal(existsSync(oldBoot), false, 'an earlier boot\'s markers are dropped, its namespace names untouched');
      const gc = a.stderr().trim().split('\n').map((l) => JSON.parse(l) as { event?: string; namespace?: string; why?: string }).filter((l) => l.event === 'gc' && l.namespace);
      assert.deepEqual(gc.map((l) => [l.namespace, l.why]).sort(), [['crashed', 'its creation never finished (a crash between the marker and the mkdir)'], ['released', 'no container holds a reference any more']]);
      // A namespace orphaned while the agent runs goes on a later run.
      await mark('later', { refs: [] });
      await waitFor(async () => !(await namespaces(e)).includes('later'), 'a periodic GC run');
      assert.deepEqual((await namespaces(e)).sort(), ['foreign', 'held']);
    } finally {
      assert.equal(await a.stop(), 0);
    }
  });
});

describe('agent helpers', () => {
  it('systemdListenFd: fd 3 only when LISTEN_PID is this process and one socket is handed over', () => {
    assert.equal(systemdListenFd({}, 10), undefined);
    assert.equal(systemdListenFd({ LISTEN_PID: '10', LISTEN_FDS: '1' }, 10), 3);
    assert.equal(systemdListenFd({ LISTEN_PID: '11', LISTEN_FDS: '1' }, 10), undefined);
    assert.throws(() => systemdListenFd({ LISTEN_PID: '10', LISTEN_FDS: '2' }, 10), /exactly one socket/);
  });
});

for (const which of CLIENTS) describe(`the thin client (${which.name})`, () => {
  it('gives up on an agent that accepts but never answers, within its timeout, and says so', async () => {
    const socket = join(tempDir('lsmns-silent-'), 'agent.sock');
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(socket, r));
    const t0 = Date.now();
    const r = await client(socket, 'createRuntime', '{}', { ...process.env, LSMNS_CLIENT_TIMEOUT: '1' }, which);
    const took = Date.now() - t0;
    for (const s of held) s.destroy();
    silent.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^lsmns: the lsmns agent at ${socket} did not answer within 1s`));
    assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  });

  it('an agent that is not running: exit 1, the socket and the command that starts it', async () => {
    const socket = join(tempDir('lsmns-down-'), 'agent.sock');
    const r = await client(socket, 'poststop', '{}', process.env, which);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `lsmns: cannot reach the lsmns agent at ${socket} (No such file or directory). Remedy: start it with systemctl start lsmns-agent.socket, or lsmns agent --socket ${socket}\n`);
  });
});

describe('answers end where their Content-Length says', () => {
  after(() => killLeftoverAgents());

  it('the agent gives every answer a Content-Length equal to its body', async () => {
    const e = cliEnv();
    const a = await startAgent(e);
    try {
      const raw = (path: string, body: string, ctype = 'application/json') => new Promise<string>((resolve, reject) => {
        const s = connect(a.socket);
        let d = '';
        s.on('data', (c) => (d += c)).on('end', () => resolve(d)).on('error', reject);
        s.write(`POST ${path} HTTP/1.0\r\nHost: lsmns\r\nContent-Type: ${ctype}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
      const b = bundle(e, ANN);
      for (const [path, body, ctype] of [['/v1/hooks/createRuntime', ociState(b, 'c1', ANN)], ['/v1/hooks/poststop', ociState(b, 'c1', ANN)], ['/v1/hooks/createRuntime', '{bad'], ['/v1/shim/prepare', 'runtime=runc', 'application/x-www-form-urlencoded'], ['/v1/nowhere', '{}']] as [string, string, string?][]) {
        const answer = await raw(path, body, ctype);
        const [head, rest] = answer.split('\r\n\r\n') as [string, string];
        assert.equal(Number(/^content-length: *(\d+)$/im.exec(head)?.[1]), Buffer.byteLength(rest), `${path}: ${answer}`);
      }
    } finally {
      await a.stop();
    }
  });

  it('the static client returns at the end of such an answer, without waiting for the agent to close', async () => {
    const socket = join(tempDir('lsmns-length-'), 'agent.sock');
    const held: Socket[] = [];
    const slow = createServer((s) => {
      held.push(s);
      s.once('data', () => s.write('HTTP/1.1 422 Unprocessable Entity\r\nX-Lsmns-Exit-Code: 4\r\nContent-Length: 12\r\nConnection: close\r\n\r\nlsmns: nope\n'));
    });
    await new Promise<void>((r) => slow.listen(socket, r));
    const t0 = Date.now();
    const r = await client(socket, 'createRuntime', '{}', { ...process.env, LSMNS_CLIENT_TIMEOUT: '3' }, CLIENTS[1]);
    const took = Date.now() - t0;
    for (const s of held) s.destroy();
    slow.close();
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^lsmns: nope\n/);
    assert.ok(took < 1500, `took ${took} ms: the client waited for the close`);
  });
});

describe('lsmns agent killed while calls are in flight (issue 16)', function () {
  this.timeout(60_000);
  after(() => killLeftoverAgents());

  for (const point of ['marker-creating', 'marker-ready', 'policy-load', 'marker-removing', 'rmdir']) {
    it(`SIGKILL at ${point}, then a restarted agent: the runtime's next calls converge, and nothing is left`, async () => {
      const e = cliEnv();
      const b = bundle(e, ANN);
      const socket = join(e.dir, 'run', 'agent.sock');
      const removing = point === 'marker-removing' || point === 'rmdir';
      const crashing = await startAgent({ dir: e.dir, env: { ...e.env, ...(removing ? {} : { LSMNS_TEST_CRASH_AT: point }) } }, socket);
      let a: RunningAgent = crashing;
      if (removing) {
        assert.equal((await client(socket, 'createRuntime', ociState(b, 'c1', ANN), e.env)).code, 0);
        await a.stop();
        a = await startAgent({ dir: e.dir, env: { ...e.env, LSMNS_TEST_CRASH_AT: point } }, socket);
        const r = await client(socket, 'poststop', ociState(b, 'c1', ANN), e.env);
        assert.notEqual(r.code, 0, 'the call in flight fails with its agent');
      } else {
        const r = await client(socket, 'createRuntime', ociState(b, 'c1', ANN), e.env);
        assert.notEqual(r.code, 0, 'the call in flight fails with its agent');
      }
      assert.equal(await a.exited, null, 'killed by its signal');
      const restarted = await startAgent(e, socket);
      try {
        if (!removing) {
          const again = await client(socket, 'createRuntime', ociState(b, 'c1', ANN), e.env);
          assert.equal(again.code, 0, again.stderr);
        }
        const stop = await client(socket, 'poststop', ociState(b, 'c1', ANN), e.env);
        assert.equal(stop.code, 0, stop.stderr);
        assert.deepEqual(await namespaces(e), []);
        assert.deepEqual(owners(e), []);
      } finally {
        await restarted.stop();
      }
    });
  }
});
