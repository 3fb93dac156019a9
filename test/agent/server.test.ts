import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { lstatSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { AgentServer, type AgentServerOptions, type HookHandler, type Logger } from '../../src/agent/server.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { CLIENTS, type ThinClient } from './helpers.js';

const quiet: Logger = { info() {}, warn() {}, error() {} };

function post(socket: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; exit: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, exit: res.headers['x-lsmns-exit-code'] as string | undefined, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs a thin client without blocking this process, which is also the agent under test. */
function client(socket: string, input: string, which: ThinClient): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(which.cmd, [...which.args, 'createRuntime'], { env: { ...process.env, LSMNS_SOCKET: socket } }, (err, _out, stderr) => resolve({ status: err ? (err as { code?: number }).code ?? -1 : 0, stderr }));
    c.stdin!.end(input);
  });
}

/** A handler whose replies the transport must carry unchanged: it echoes what it got, or fails as asked. */
const echo: HookHandler = async (stage, body) => {
  const s = JSON.parse(body) as { id: string; fail?: number; wait?: number };
  if (s.wait) await new Promise((r) => setTimeout(r, s.wait));
  if (s.fail) return { exitCode: s.fail, message: `lsmns: failed ${stage} ${s.id}. Remedy: none`, error: { code: 'Test', exitCode: s.fail } };
  return { exitCode: 0, message: '' };
};

async function agent(handler: HookHandler = echo, extra: Partial<AgentServerOptions> = {}) {
  const socket = join(tempDir('lsmns-agent-'), 'run', 'agent.sock');
  const a = new AgentServer({ socket, handler, stages: ['createRuntime', 'prestart', 'poststop'], logger: quiet, ...extra });
  await a.start();
  return { a, socket };
}

describe('agent/server', () => {
  it('creates a root-only socket in a 0700 directory', async () => {
    const { a, socket } = await agent();
    assert.equal(lstatSync(socket).mode & 0o777, 0o600);
    assert.equal(statSync(join(socket, '..')).mode & 0o777, 0o700);
    await a.stop();
  });

  it('maps each exit code to a status and back through the thin client', async () => {
    const { a, socket } = await agent();
    for (const [fail, status, clientExit] of [[0, 200, 0], [2, 400, 2], [3, 409, 3], [4, 422, 4], [1, 500, 1]] as const) {
      const body = JSON.stringify({ id: 'c1', ...(fail ? { fail } : {}) });
      const r = await post(socket, '/v1/hooks/createRuntime', body);
      assert.equal(r.status, status);
      assert.equal(r.exit, String(fail));
      for (const which of CLIENTS) {
        const c = await client(socket, body, which);
        assert.equal(c.status, clientExit, `${which.name}: ${c.stderr}`);
        assert.equal(c.stderr, fail ? 'lsmns: failed createRuntime c1. Remedy: none\n' : '', which.name);
      }
    }
    await a.stop();
  });

  it('refuses hostile requests with a clear error', async () => {
    const calls: string[] = [];
    const { a, socket } = await agent(async (stage, body) => { calls.push(stage + body); return { exitCode: 0, message: '' }; }, { maxBodyBytes: 1024 });
    const big = await post(socket, '/v1/hooks/createRuntime', Buffer.alloc(4096, 'x'));
    assert.equal(big.status, 400);
    assert.match(big.body, /request body over 1024 bytes/);
    const stage = await post(socket, '/v1/hooks/rm%20-rf', '{}');
    assert.equal(stage.status, 400);
    assert.match(stage.body, /unknown hook stage "rm -rf"/);
    const path = await post(socket, '/v1/../etc/passwd', '{}');
    assert.match(path.body, /no such endpoint|unknown hook stage/);
    // A malformed percent-encoding is the client's mistake (400, exit 2), not the agent's (500, exit 1).
    for (const bad of ['/v1/hooks/%E0%A4%A', '/v1/hooks/%', '/v1/hooks/%zz', '/v1/hooks/%C0%80']) {
      const r = await post(socket, bad, '{}');
      assert.deepEqual([r.status, r.exit], [400, '2'], `${bad}: ${r.body}`);
      assert.match(r.body, /percent-encoding|unknown hook stage/);
    }
    assert.deepEqual(calls, [], 'the hook logic never ran');
    await a.stop();
  });

  it('finishes the requests in flight on stop, then removes the socket', async () => {
    const { a, socket } = await agent();
    const slow = post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'slow', wait: 300 }));
    await new Promise((r) => setTimeout(r, 50));
    const stopped = a.stop();
    assert.equal((await slow).status, 200);
    await stopped;
    assert.throws(() => lstatSync(socket), /ENOENT/);
  });

  it('replaces a stale socket, and refuses a live one', async () => {
    const { a, socket } = await agent();
    await assert.rejects(new AgentServer({ socket, handler: echo, stages: ['poststop'], logger: quiet }).start(), /another lsmns agent is listening/);
    await a.stop();
    // A socket file left by a crashed agent: a process binds it and is killed before it can clean up.
    const code = `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`;
    await new Promise((r) => spawn(process.execPath, ['-e', code]).on('exit', r));
    assert.ok(lstatSync(socket).isSocket());
    const b = new AgentServer({ socket, handler: echo, stages: ['poststop'], logger: quiet });
    await b.start();
    assert.equal((await post(socket, '/v1/hooks/poststop', '{"id":"x"}')).status, 200);
    await b.stop();
  });

  it('refuses a path that is not a socket', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), '');
    await assert.rejects(new AgentServer({ socket: join(dir, 'file'), handler: echo, stages: [], logger: quiet }).start(), /is not a socket/);
  });

  it('serialises calls with the same key and runs other keys in parallel', async () => {
    const log: string[] = [];
    const h: HookHandler = async (_s, body) => {
      const { id } = JSON.parse(body) as { id: string };
      log.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 40));
      log.push(`end ${id}`);
      return { exitCode: 0, message: '' };
    };
    const { a, socket } = await agent(h, { lockKey: (b) => (JSON.parse(b) as { key: string }).key });
    await Promise.all([post(socket, '/v1/hooks/createRuntime', '{"id":"a1","key":"a"}'), post(socket, '/v1/hooks/createRuntime', '{"id":"a2","key":"a"}'), post(socket, '/v1/hooks/createRuntime', '{"id":"b1","key":"b"}')]);
    const a1 = log.indexOf('end a1');
    const a2 = log.indexOf('start a2');
    assert.ok(a2 > a1 || log.indexOf('end a2') < log.indexOf('start a1'), `same key overlapped: ${log.join(', ')}`);
    assert.ok(log.indexOf('start b1') < Math.max(a1, log.indexOf('end a2')), `other keys waited: ${log.join(', ')}`);
    await a.stop();
  });
  it('read turns each body into one value that lockKey and the handler share', async () => {
    const seen: string[] = [];
    let reads = 0;
    const socket = join(tempDir('lsmns-agent-'), 'run', 'agent.sock');
    const a = new AgentServer<{ id: string }>({
      socket, stages: ['createRuntime'], logger: quiet,
      read: (text) => { reads++; return JSON.parse(text) as { id: string }; },
      lockKey: (s) => { seen.push(`key ${s.id}`); return s.id; },
      handler: async (stage, s) => { seen.push(`${stage} ${s.id}`); return { exitCode: 0, message: '' }; },
    });
    await a.start();
    assert.equal((await post(socket, '/v1/hooks/createRuntime', '{"id":"c7"}')).status, 200);
    assert.equal(reads, 1);
    assert.deepEqual(seen, ['key c7', 'createRuntime c7']);
    await a.stop();
  });

  describe('under load (issue 16)', () => {
    const keyed = { read: (t: string) => t, lockKey: (t: string) => (JSON.parse(t) as { key?: string }).key ?? null };

    it('answers "busy" before any effect when a call cannot get its pod\'s turn within the queue wait', async () => {
      const ran: string[] = [];
      const h: HookHandler = async (stage, body) => { ran.push((JSON.parse(body) as { id: string }).id); return echo(stage, body, new AbortController().signal); };
      const { a, socket } = await agent(h, { ...keyed, queueWaitMs: 200 });
      const first = post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'a', key: 'p', wait: 800 }));
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      const second = await post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'b', key: 'p' }), { accept: 'application/json' });
      assert.ok(Date.now() - t0 < 700, 'answered at the queue wait, not after the first call');
      assert.equal(second.exit, '4');
      assert.equal((JSON.parse(second.body) as { code: string }).code, 'Busy');
      assert.equal((await first).exit, '0');
      assert.deepEqual(ran, ['a'], 'the busy call never reached the handler');
      await a.stop();
    });

    it('answers "busy" when every slot stays taken past the queue wait', async () => {
      const { a, socket } = await agent(echo, { queueWaitMs: 150, maxConcurrent: 1 });
      const first = post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'a', wait: 600 }));
      await new Promise((r) => setTimeout(r, 50));
      const second = await post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'b' }), { accept: 'application/json' });
      assert.match(second.body, /"code":"Busy".*no free slot/);
      assert.equal((await first).exit, '0');
      await a.stop();
    });

    it('a client that hangs up while its call waits gets nothing done; one that hangs up mid-call sees its signal aborted', async () => {
      const seen: { id: string; abortedAtEnd: boolean }[] = [];
      const h: HookHandler = async (_s, body, signal) => {
        const b = JSON.parse(body) as { id: string; wait?: number };
        if (b.wait) await new Promise((r) => setTimeout(r, b.wait));
        seen.push({ id: b.id, abortedAtEnd: signal.aborted });
        return { exitCode: 0, message: '' };
      };
      const { a, socket } = await agent(h, keyed);
      const first = post(socket, '/v1/hooks/createRuntime', JSON.stringify({ id: 'holder', key: 'p', wait: 600 }));
      await new Promise((r) => setTimeout(r, 50));
      // A waiter behind it, and a client that gives up after 100 ms (as the thin client does after its 8 s).
      const gone = request({ socketPath: socket, path: '/v1/hooks/createRuntime', method: 'POST', headers: { 'content-type': 'application/json' } });
      gone.on('error', () => {});
      gone.end(JSON.stringify({ id: 'waiter', key: 'p' }));
      await new Promise((r) => setTimeout(r, 100));
      gone.destroy();
      // A call that hangs up while the handler runs.
      const mid = request({ socketPath: socket, path: '/v1/hooks/createRuntime', method: 'POST', headers: { 'content-type': 'application/json' } });
      mid.on('error', () => {});
      mid.end(JSON.stringify({ id: 'mid', key: 'q', wait: 300 }));
      await new Promise((r) => setTimeout(r, 100));
      mid.destroy();
      await first;
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(seen.sort((x, y) => x.id.localeCompare(y.id)), [{ id: 'holder', abortedAtEnd: false }, { id: 'mid', abortedAtEnd: true }]);
      await a.stop();
    });

    it('500 idle connections held open do not keep a real call from its answer', async function () {
      this.timeout(30_000);
      const { a, socket } = await agent();
      const idle = await Promise.all(Array.from({ length: 500 }, () => new Promise<Socket>((resolve, reject) => {
        const c = connect(socket);
        c.once('connect', () => resolve(c));
        c.once('error', reject);
      })));
      try {
        const t0 = Date.now();
        const r = await client(socket, JSON.stringify({ id: 'real' }), CLIENTS[1]);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(Date.now() - t0 < 8_000, `${Date.now() - t0} ms`);
      } finally {
        for (const c of idle) c.destroy();
        await a.stop();
      }
    });
  });
});
