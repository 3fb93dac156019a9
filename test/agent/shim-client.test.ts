// The served shim's client (`lsmns-hook-client shim ...`, run by hooks/lsmns-runtime): the static client and its
// sh + socat twin must say the same bytes on stderr and in the runtime's --log, and exit alike, on every case.
// Also the hook client's own use of the node configuration when the environment names no socket.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { cliEnv, type CliEnv } from '../commands/cli.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { ANN, CLIENTS, killLeftoverAgents, startAgent, type RunningAgent, type ThinClient } from './helpers.js';
import { bundle } from '../support/bundle.js';

interface Ran { code: number; stdout: string; stderr: string; log: string }

/** Runs a client without blocking this process (a silent agent below lives in it). */
function run(which: ThinClient, args: string[], env: NodeJS.ProcessEnv, input = '', log = ''): Promise<Ran> {
  if (log) writeFileSync(log, '');
  return new Promise((resolve) => {
    const c = execFile(which.cmd, [...which.args, ...args], { env }, (err, stdout, stderr) => resolve({
      code: err ? (err as { code?: number }).code ?? -1 : 0, stdout, stderr, log: log ? readFileSync(log, 'utf8') : '',
    }));
    // A client that fails before it reads stdin (a refusal, the shim mode) closes it: that EPIPE is no error here.
    c.stdin!.on('error', () => {});
    c.stdin!.end(input);
  });
}

/** The same case through both clients; the runc log's timestamps (from the agent) are the only allowed difference. */
async function both(args: (log: string) => string[], env: NodeJS.ProcessEnv, dir: string, input = ''): Promise<Ran> {
  // One after the other, with the same log file: the runtime's arguments name it.
  const log = join(dir, 'runtime-log.json');
  const sh = await run(CLIENTS[0], args(log), env, input, log);
  const native = await run(CLIENTS[1], args(log), env, input, log);
  const t = (s: string) => s.replace(/"time":"[^"]+"/g, '"time":"T"');
  assert.deepEqual({ ...native, log: t(native.log) }, { ...sh, log: t(sh.log) }, 'the static client and the sh client differ');
  return native;
}

describe('the shim client: static and sh + socat alike', function () {
  this.timeout(60_000);
  let e: CliEnv;
  let a: RunningAgent;
  let rt: string;
  const shim = (b: string, id: string, sock = a.socket, t = '8') => (log: string) => ['shim', sock, t, rt, b, log, '--', '--log', log, '--log-format', 'json', 'create', '--bundle', b, id];

  before(async () => {
    e = cliEnv();
    e.env.LSMNS_POLICY_WAIT = '0';
    a = await startAgent(e);
    // The "runtime": prints its argv, so an exec with the original arguments shows on stdout.
    rt = join(e.dir, 'fake-runc');
    writeFileSync(rt, '#!/bin/sh\necho "runtime $0: $*"\n', { mode: 0o755 });
  });
  after(async () => {
    if (a.proc.exitCode === null) await a.stop();
    killLeftoverAgents();
  });

  it('prepared: the runtime is exec\'d with its own arguments, exit 0, nothing on stderr; the hooks are in config.json', async () => {
    const b = bundle(e, ANN, 'ok bundle');
    const r = await both(shim(b, 'c1'), e.env, e.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^runtime ${rt}: --log \\S+ --log-format json create --bundle ${b} c1\\n$`));
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')).hooks), ['createRuntime', 'poststop']);
  });

  it('an unannotated bundle: the runtime runs, config.json untouched', async () => {
    const b = bundle(e, { 'other.io/x': 'y' });
    const before = readFileSync(join(b, 'config.json'), 'utf8');
    assert.equal((await both(shim(b, 'c2'), e.env, e.dir)).code, 0);
    assert.equal(readFileSync(join(b, 'config.json'), 'utf8'), before);
  });

  it('a hostile annotation: exit 2, the key on stderr, the same message as a runc JSON line in --log', async () => {
    const b = bundle(e, { ...ANN, 'lsmns.io/apparmor-profile': 'x:y' });
    const r = await both(shim(b, 'c3'), e.env, e.dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^lsmns runtime create: .*lsmns\.io\/apparmor-profile="x:y".*remedy: .*\n$/);
    assert.equal(r.stdout, '', 'the runtime never ran');
    const line = JSON.parse(r.log) as { level: string; msg: string };
    assert.deepEqual([line.level, line.msg], ['error', r.stderr.trim()]);
  });

  it('an agent that is not running: exit 1, the socket and the remedy, and a log line for containerd', async () => {
    const sock = join(tempDir('lsmns-down-'), 'agent.sock');
    const r = await both(shim(bundle(e, ANN), 'c4', sock), e.env, e.dir);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `lsmns: cannot reach the lsmns agent at ${sock} (No such file or directory). Remedy: start it with systemctl start lsmns-agent.socket, or lsmns agent --socket ${sock}\n`);
    assert.equal(JSON.parse(r.log).msg, `lsmns: cannot reach the lsmns agent at ${sock}; start it with systemctl start lsmns-agent.socket`);
  });

  it('an agent that accepts but never answers: exit 1 after the timeout, said on stderr and in the log', async () => {
    const sock = join(tempDir('lsmns-silent-'), 'agent.sock');
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(sock, r));
    try {
      const r = await both(shim(bundle(e, ANN), 'c5', sock, '1'), e.env, e.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^lsmns: the lsmns agent at ${sock} did not answer within 1s`));
      assert.equal(JSON.parse(r.log).msg, `lsmns: the lsmns agent at ${sock} did not answer within 1s`);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('a malformed call: exit 2 and the usage, alike', async () => {
    const r = await both(() => ['shim', a.socket, '8'], e.env, e.dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^lsmns-hook-client: usage: lsmns-hook-client shim /);
  });

  it('hooks: with no LSMNS_SOCKET, the node configuration names the socket; a bad line is refused with file:line', async () => {
    const dir = tempDir('lsmns-hookconf-');
    const conf = join(dir, 'node.conf');
    const sock = join(dir, 'nowhere.sock');
    const env = { PATH: process.env.PATH, LSMNS_CONFIG: conf };
    writeFileSync(conf, `# node\nLSMNS_BACKEND=sim\nLSMNS_SOCKET=${sock}\n`);
    const down = await both(() => ['poststop'], env, dir, '{}');
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`^lsmns: cannot reach the lsmns agent at ${sock} `));
    writeFileSync(conf, 'LSMNS_BACKEND=sim\nLSMNS_SOKET=/x\n');
    const bad = await both(() => ['poststop'], env, dir, '{}');
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, `lsmns: ${conf}:2: not a known LSMNS_ KEY=value line. Remedy: fix the line (lsmns doctor checks the file)\n`);
    const viaEnv = await both(() => ['poststop'], { ...env, LSMNS_SOCKET: a.socket }, dir, JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'stopped', bundle: dir, annotations: {} }));
    assert.equal(viaEnv.code, 0, 'LSMNS_SOCKET wins, and the file is not read at all');
  });
});
