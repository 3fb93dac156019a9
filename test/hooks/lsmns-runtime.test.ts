// The shim front, sh and static, on the same cases: the same stdout (what each execs, with which arguments),
// the same stderr, the same runc JSON lines in --log and the same exit codes. Fake runtimes, client and lsmns
// print what they were given; each front is installed in its own directory with the node.conf path baked in,
// as lsmns install does, so that the default client (beside the front) and the default configuration count.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bakeConfigPath } from '../../src/install/layout.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { FRONTS, NATIVE_FRONT, type Front } from '../support/fronts.js';

interface Case {
  name: string;
  args: string[];
  /** node.conf's content (written to the baked path), or null for no file. */
  conf: string | Buffer | null;
  env?: Record<string, string>;
  cwd?: string;
  code: number;
  out?: RegExp;
  err?: RegExp;
  log?: RegExp;
}

describe('the shim front: sh and static alike', function () {
  this.timeout(30_000);
  const dir = tempDir('lsmns-fronts-');
  const bin = join(dir, 'bin');
  const conf = join(dir, 'etc', 'node.conf');
  const log = join(dir, 'runtime.log');
  const work = join(dir, 'work');
  const printer = (what: string) => `#!/bin/sh\necho "${what} \${0##*/}: $* | pwd=$PWD"\n`;
  const homes = new Map<Front, string>();

  before(() => {
    for (const d of [bin, join(dir, 'etc'), work]) mkdirSync(d, { recursive: true });
    writeFileSync(join(bin, 'runc'), printer('runtime'), { mode: 0o755 });
    writeFileSync(join(bin, 'my-rt'), printer('runtime'), { mode: 0o755 });
    writeFileSync(join(bin, 'fake-lsmns'), printer('lsmns'), { mode: 0o755 });
    writeFileSync(join(bin, 'no-shebang'), 'echo "no #! line: $*"\n', { mode: 0o755 });
    writeFileSync(join(bin, 'not-executable'), printer('never'), { mode: 0o644 });
    for (const f of FRONTS) {
      const home = join(dir, f.name);
      mkdirSync(home);
      writeFileSync(join(home, 'lsmns-runtime'), bakeConfigPath(readFileSync(f.path), conf), { mode: 0o755 });
      writeFileSync(join(home, 'lsmns-hook-client'), printer('client'), { mode: 0o755 });
      homes.set(f, home);
    }
  });

  function run(f: Front, c: Case): { code: number | null; stdout: string; stderr: string; log: string } {
    rmSync(conf, { force: true });
    if (c.conf !== null) writeFileSync(conf, c.conf);
    writeFileSync(log, '');
    const home = homes.get(f)!;
    const front = join(home, 'lsmns-runtime');
    const r = spawnSync(f.name === 'sh' ? 'sh' : front, f.name === 'sh' ? [front, ...c.args] : c.args, {
      cwd: c.cwd ?? work, encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, ...c.env },
    });
    // Each front's own directory reads alike; dash names the line of a failed exec, the static front cannot.
    const norm = (s: string) => s.split(home).join('FRONT').replace(/: \d+: exec: /g, ': exec: ');
    return { code: r.status, stdout: norm(r.stdout), stderr: norm(r.stderr), log: norm(readFileSync(log, 'utf8')) };
  }

  const served = `LSMNS_RUNTIME=runc\nLSMNS_SHIM_MODE=served\nLSMNS_SOCKET=/run/x.sock\nLSMNS_BACKEND=sim\n`;
  const badLine = ': not a known LSMNS_ KEY=value line\\. Remedy: fix the line \\(lsmns doctor checks the file\\)\n$';
  const cases: Case[] = [
    { name: 'a pass-through verb with LSMNS_RUNTIME set: exec\'d, node.conf never read', args: ['--root', 'r', 'state', 'c1'], conf: 'garbage\n', env: { LSMNS_RUNTIME: 'my-rt' }, code: 0, out: /^runtime my-rt: --root r state c1 \| pwd=\S+\/work\n$/ },
    { name: 'a pass-through verb: the runtime from node.conf', args: ['kill', 'c1', 'KILL'], conf: `LSMNS_RUNTIME=${bin}/my-rt\nBAD LINE\n`, code: 0, out: /^runtime my-rt: kill c1 KILL /, err: /^$/ },
    { name: 'a pass-through verb: a bad line before LSMNS_RUNTIME leaves runc', args: ['delete', 'c1'], conf: `BAD\nLSMNS_RUNTIME=${bin}/my-rt\n`, code: 0, out: /^runtime runc: delete c1 / },
    { name: 'a pass-through verb with an unreadable LSMNS_CONFIG: runc', args: ['start', 'c1'], conf: null, env: { LSMNS_CONFIG: join(dir, 'missing') }, code: 0, out: /^runtime runc: start c1 / },
    { name: 'a runtime that does not exist: 127', args: ['state', 'c1'], conf: null, env: { LSMNS_RUNTIME: 'no-such-rt' }, code: 127, err: /^FRONT\/lsmns-runtime: exec: no-such-rt: not found\n$/ },
    { name: 'a runtime path that does not exist: 127', args: ['state', 'c1'], conf: 'LSMNS_RUNTIME=/no/such/rt\n', code: 127, err: /exec: \/no\/such\/rt: not found\n$/ },
    { name: 'a runtime that is not executable: 126', args: ['state'], conf: null, env: { LSMNS_RUNTIME: join(bin, 'not-executable') }, code: 126, err: /exec: \S+not-executable: Permission denied\n$/ },
    { name: 'a runtime without a #! line runs under sh', args: ['list'], conf: null, env: { LSMNS_RUNTIME: 'no-shebang' }, code: 0, out: /^no #! line: list\n$/ },
    { name: 'no arguments at all', args: [], conf: null, code: 0, out: /^runtime runc:  \| / },
    { name: 'an empty verb, and --log as the last argument', args: ['--log'], conf: served, code: 0, out: /^runtime runc: --log \| / },
    { name: 'a global flag\'s value is never the verb', args: ['--root', 'create', 'state', 'c1'], conf: 'LSMNS_SHIM_MODE=bogus\n', code: 0, out: /^runtime runc: --root create state c1 / },
    { name: 'create, standalone: lsmns runtime with the runtime and --config', args: ['--log', log, 'create', '--bundle', '/b', 'c1'], conf: `LSMNS_RUNTIME=crun\nLSMNS_BIN=fake-lsmns\n# comment\n\nLSMNS_POLICY_WAIT=0\n`, code: 0, out: /^lsmns fake-lsmns: runtime --runtime crun --config \S+\/etc\/node\.conf -- --log \S+ create --bundle \/b c1 / },
    { name: 'create, standalone, no node.conf: no --config', args: ['create', 'c1'], conf: null, env: { LSMNS_BIN: 'fake-lsmns', LSMNS_RUNTIME: 'my-rt' }, code: 0, out: /^lsmns fake-lsmns: runtime --runtime my-rt -- create c1 / },
    { name: 'create, served: the client beside the front, a relative bundle made absolute', args: ['--root', 'r', '--log', log, 'create', '--bundle', 'rel', 'c1'], conf: served, code: 0, out: /^client lsmns-hook-client: shim \/run\/x\.sock 8 runc \S+\/work\/rel \S+runtime\.log -- --root r --log \S+ create --bundle rel c1 / },
    { name: 'run, served: -b=, the client, socket and timeout from node.conf, the last line wins', args: ['--log=' + log, 'run', '-b=/abs', 'c1'], conf: `${served}LSMNS_HOOK_CLIENT=${bin}/my-rt\nLSMNS_CLIENT_TIMEOUT=3\nLSMNS_SOCKET=/run/y.sock\n`, code: 0, out: /^runtime my-rt: shim \/run\/y\.sock 3 runc \/abs \S+runtime\.log -- --log=\S+ run -b=\/abs c1 / },
    { name: 'create, served: the bundle from the cwd; the LSMNS_* variables win over the file', args: ['create', '--bundle=', 'c1'], conf: served, env: { LSMNS_SOCKET: '/env.sock', LSMNS_CLIENT_TIMEOUT: '5', LSMNS_RUNTIME: 'my-rt' }, code: 0, out: /^client lsmns-hook-client: shim \/env\.sock 5 my-rt \S+\/work  -- create --bundle= c1 / },
    { name: 'create, served: -b with no value leaves the cwd', args: ['create', 'c1', '-b'], conf: served, code: 0, out: /^client lsmns-hook-client: shim \/run\/x\.sock 8 runc \S+\/work  -- / },
    { name: 'create: an unknown key is refused with file:line, exit 2, and a log line', args: ['--log', log, 'create', 'c1'], conf: `${served}LSMNS_SOKET=/x\n`, code: 2, err: new RegExp(`^lsmns: \\S+node\\.conf:5${badLine}`), log: /^\{"level":"error","msg":"lsmns: \S+node\.conf:5: not a known LSMNS_ KEY=value line"\}\n$/ },
    { name: 'create: a line without = is refused', args: ['create', 'c1'], conf: 'LSMNS_BACKEND\n', code: 2, err: /node\.conf:1: not a known/ },
    { name: 'create: a line of 5000 bytes is refused, not cut', args: ['create', 'c1'], conf: `# ok\nLSMNS_SOCKET=/${'a'.repeat(5000)}\n`, code: 2, err: /node\.conf:2: not a known/ },
    { name: 'create: a line of 4095 bytes is read whole', args: ['create', 'c1'], conf: `LSMNS_SHIM_MODE=served\nLSMNS_SOCKET=/${'a'.repeat(4095 - 14)}\n`, code: 0, out: new RegExp(`^client lsmns-hook-client: shim /a{${4095 - 14}} 8 runc `) },
    { name: 'create: NUL bytes in a line are dropped, as sh read drops them', args: ['create', 'c1'], conf: Buffer.from('LSMNS_SHIM\0_MODE=ser\0ved\0\n\0\0\n'), code: 0, out: /^client lsmns-hook-client: shim \/run\/lsmns\/agent\.sock 8 runc / },
    { name: 'create: the last line counts without its newline', args: ['create', 'c1'], conf: 'LSMNS_RUNTIME=crun\nLSMNS_SHIM_MODE=served', code: 0, out: /^client lsmns-hook-client: shim \S+ 8 crun / },
    { name: 'create: a CRLF line is not served', args: ['--log', log, 'create', 'c1'], conf: 'LSMNS_SHIM_MODE=served\r\n', code: 2, err: /^lsmns: LSMNS_SHIM_MODE=served\r: must be served or standalone\. Remedy: fix it in \S+node\.conf\n$/, log: /^\{"level":"error","msg":"lsmns: LSMNS_SHIM_MODE=served\r: must be served or standalone"\}\n$/ },
    { name: 'create: an unreadable LSMNS_CONFIG (a | in its name splits the message as sh does)', args: ['--log', log, 'create', 'c1'], conf: null, env: { LSMNS_CONFIG: join(dir, 'no|such') }, code: 2, err: /^lsmns: cannot read the node configuration \S+\/no\. Remedy: such\|write it with lsmns install, or point LSMNS_CONFIG at it\n$/, log: /^\{"level":"error","msg":"lsmns: cannot read the node configuration \S+\/no"\}\n$/ },
    { name: 'create, served: a missing client is exit 3 with a log line', args: ['--log', log, 'create', 'c1'], conf: `${served}LSMNS_HOOK_CLIENT=${join(dir, 'none')}\n`, code: 3, err: /^lsmns: the hook client \S+\/none is missing or not executable\. Remedy: run lsmns install \(or set LSMNS_HOOK_CLIENT in \S+node\.conf\)\n$/, log: /^\{"level":"error","msg":"lsmns: the hook client \S+\/none is missing or not executable"\}\n$/ },
    { name: 'create, served: a client that is not executable', args: ['create', 'c1'], conf: `${served}LSMNS_HOOK_CLIENT=${join(bin, 'not-executable')}\n`, code: 3, err: /not-executable is missing or not executable/ },
    { name: 'create: a bad mode from the environment', args: ['create', 'c1'], conf: null, env: { LSMNS_SHIM_MODE: 'x"y' }, code: 2, err: /^lsmns: LSMNS_SHIM_MODE=x"y: must be served or standalone\. Remedy: fix it in \S+node\.conf\n$/, log: /^$/ },
    { name: 'create, served: 20,000 arguments reach the client', args: ['create', '--bundle', '/b', ...Array<string>(20_000).fill('a')], conf: served, code: 0, out: /^client lsmns-hook-client: shim \S+ 8 runc \/b  -- create --bundle \/b (a ){19999}a \| / },
    { name: 'a runtime name over PATH_MAX: 127, as execve says', args: ['state'], conf: null, env: { LSMNS_RUNTIME: 'r'.repeat(9000) }, code: 127, err: /exec: r{9000}: File name too long\n$/ },
    { name: 'create: an LSMNS_CONFIG over PATH_MAX cannot be read', args: ['create', 'c1'], conf: null, env: { LSMNS_CONFIG: `/${'c'.repeat(5000)}` }, code: 2, err: /^lsmns: cannot read the node configuration \/c{5000}\. Remedy: / },
    { name: 'create, served: hostile argv (a 100 KiB argument) reaches the client whole', args: ['create', '--bundle', '/b', 'x'.repeat(100_000)], conf: served, code: 0, out: /^client lsmns-hook-client: shim \S+ 8 runc \/b  -- create --bundle \/b x{100000} / },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const [sh, native] = FRONTS.map((f) => run(f, c));
      assert.deepEqual(native, sh, 'the static front and the sh front differ');
      assert.equal(sh!.code, c.code, sh!.stderr);
      if (c.out) assert.match(sh!.stdout, c.out);
      if (c.err) assert.match(sh!.stderr, c.err);
      if (c.log) assert.match(sh!.log, c.log);
    });
  }

  it('the static front carries the node.conf path in the field lsmns install rewrites', () => {
    assert.ok(existsSync(NATIVE_FRONT), 'make build compiles dist/native/lsmns-runtime');
    const baked = bakeConfigPath(readFileSync(NATIVE_FRONT), conf);
    assert.ok(baked.includes(Buffer.from(`@@LSMNS_CONFIG@@${conf}\0`)));
    assert.equal(baked.length, readFileSync(NATIVE_FRONT).length);
  });
});
