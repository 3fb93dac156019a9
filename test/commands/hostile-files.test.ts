// Hostile inputs through the real CLI (issue 16, findings 7 and 8): each must end with exit 2 and a message that
// names the input, in bounded time, never with exit 1 ("this is a bug"), a crash, a hang or an abort.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cliEnv, lsmns, podJson, type CliEnv } from './cli.js';

const NS = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': 'u-1' };

/** Runs lsmns with a wall-clock bound, and reports its peak memory (GNU time's %M, in KiB) when available. */
function timed(e: CliEnv, args: string[], input?: string): { code: number; out: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { env: e.env, input, encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
}

function deepJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** A YAML "billion laughs": ten levels, each a list of nine aliases of the level before. */
function aliasBomb(): string {
  let y = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i <= 10; i++) y += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]\n`;
  return y;
}

describe('hostile files and documents (exit 2, bounded time)', function () {
  this.timeout(120_000);
  const e = cliEnv();

  const podCases: [string, () => string, RegExp][] = [
    ['200,000 lsmns.io/ keys', () => {
      const ann: Record<string, string> = { 'lsmns.io/apparmor-namespace': 'x' };
      for (let i = 0; i < 200_000; i++) ann[`lsmns.io/k${i}`] = 'v';
      return podJson(ann);
    }, /lsmns\.io\/ keys/],
    ['JSON nested 100,000 deep', () => deepJson(100_000), /nested deeper than/],
    ['a pod whose spec is nested 100,000 deep', () => podJson(NS).replace('"containers":[', `"deep":${deepJson(100_000)},"containers":[`), /nested deeper than/],
    ['YAML nested 100,000 deep', () => `a: ${deepJson(100_000)}\n`, /nested deeper than|too deep/],
    ['a YAML alias bomb', aliasBomb, /alias/],
    ['100,000 YAML documents', () => '---\na: 1\n'.repeat(100_000), /documents/],
  ];
  for (const [name, make, message] of podCases) {
    it(`plan --pod: ${name}`, () => {
      const f = join(e.dir, 'pod.in');
      writeFileSync(f, make());
      const r = timed(e, ['plan', '--pod', f]);
      assert.equal(r.code, 2, r.out.slice(0, 500));
      assert.match(r.out, message);
      assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    });
  }

  // The other files a command reads: node facts, the node configuration, and a policy's includes (lsmns plan
  // lints the pod's policy with them). stat says /proc/self/pagemap is 0 bytes; it never ends.
  for (const dev of ['/dev/zero', '/proc/self/pagemap']) {
    it(`plan --node-facts ${dev} and --config ${dev} are exit 2, naming the file`, () => {
      const pod = join(e.dir, 'facts-pod.json');
      writeFileSync(pod, podJson({ 'lsmns.io/apparmor-namespace': 'tenant-a' }));
      const facts = timed(e, ['plan', '--pod', pod, '--node-facts', dev]);
      assert.equal(facts.code, 2, facts.out.slice(0, 500));
      assert.match(facts.out, new RegExp(`--node-facts ${dev}`));
      const conf = timed(e, ['plan', '--pod', pod, '--config', dev]);
      assert.equal(conf.code, 2, conf.out.slice(0, 500));
      assert.match(conf.out, new RegExp(`node configuration ${dev}`));
    });
  }
  it('a policy that includes /proc/self/pagemap through a link in the include dir is refused, not read to the end', () => {
    const hosts = join(e.dir, 'hosts-pagemap');
    mkdirSync(join(hosts, 'abstractions'), { recursive: true });
    symlinkSync('/proc/self/pagemap', join(hosts, 'abstractions', 'endless'));
    mkdirSync(join(e.dir, 'pol-pagemap', 'team-a'), { recursive: true });
    writeFileSync(join(e.dir, 'pol-pagemap', 'team-a', 'web.aa'), 'profile web {\n  include <abstractions/endless>\n}\n');
    const pod = join(e.dir, 'pagemap-pod.json');
    writeFileSync(pod, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'w', namespace: 'team-a', annotations: { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }, spec: { containers: [{ name: 'web' }] } }));
    const r = timed(e, ['plan', '--pod', pod, '--policy-dir', join(e.dir, 'pol-pagemap'), '--host-profile-dir', hosts]);
    assert.equal(r.code, 2, r.out.slice(0, 500));
    assert.match(r.out, /abstractions\/endless/);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  });

  for (const dev of ['/dev/zero', '/proc/self/pagemap']) {
    it(`plan --pod ${dev} is refused at the byte bound`, () => {
      const r = timed(e, ['plan', '--pod', dev]);
      assert.equal(r.code, 2, r.out.slice(0, 500));
      assert.match(r.out, /more than \d+ bytes/);
    });
  }

  it('plan --pod on a FIFO without a writer ends on SIGTERM', async () => {
    const fifo = join(e.dir, 'pod.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const child = spawn(process.execPath, [BIN, 'plan', '--pod', fifo], { env: e.env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    const exited = new Promise<string | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const how = await exited;
    clearTimeout(killer);
    assert.equal(how, 'SIGTERM', 'SIGTERM ends it; SIGKILL was not needed');
  });

  describe('the hook', () => {
    const bundle = join(e.dir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    const state = (extra: Record<string, unknown> = {}) => JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle, annotations: NS, ...extra });

    it('an OCI state nested 100,000 deep on stdin is exit 2', () => {
      writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: NS }));
      const r = timed(e, ['hook', 'createRuntime'], state().replace('"annotations"', `"deep":${deepJson(100_000)},"annotations"`));
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /nested deeper than/);
    });

    it('/dev/zero on stdin is refused at the byte bound', () => {
      const r = spawnSync(`exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} hook createRuntime < /dev/zero`, { shell: '/bin/sh', env: e.env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /over \d+ bytes/);
    });

    const configs: [string, () => void, RegExp][] = [
      ['config.json nested 100,000 deep', () => writeFileSync(join(bundle, 'config.json'), `{"ociVersion":"1.0.2","x":${deepJson(100_000)}}`), /nested deeper than/],
      ['config.json as /proc/self/pagemap (size 0, never ends)', () => symlinkSync('/proc/self/pagemap', join(bundle, 'config.json')), /not a regular file|more than/],
      ['config.json as /dev/zero', () => symlinkSync('/dev/zero', join(bundle, 'config.json')), /not a regular file/],
      ['config.json as a FIFO', () => spawnSync('mkfifo', [join(bundle, 'config.json')]), /not a regular file/],
    ];
    for (const [name, make, message] of configs) {
      it(`${name} is exit 2 at once`, () => {
        spawnSync('rm', ['-f', join(bundle, 'config.json')]);
        make();
        const r = timed(e, ['hook', 'createRuntime'], state());
        assert.equal(r.code, 2, r.out);
        assert.match(r.out, message);
        assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
      });
    }
  });

  describe('state files and directories', () => {
    const pod = () => {
      const f = join(e.dir, 'ok.json');
      writeFileSync(f, podJson({ 'lsmns.io/apparmor-namespace': 'tenant-a' }));
      return f;
    };
    for (const [name, text] of [['null', 'null'], ['{"formatVersion":1} alone', '{"formatVersion":1}'], ['an array', '[]'], ['a string tree', '{"formatVersion":"1","root":"x","tasks":[]}']] as const) {
      it(`a sim state of ${name} is exit 2 (StateCorrupt), for plan and apply`, () => {
        const sim = join(e.dir, `sim-${name.length}.json`);
        writeFileSync(sim, text);
        for (const cmd of ['plan', 'apply']) {
          const r = lsmns({ ...e, env: { ...e.env, LSMNS_SIM_STATE: sim } }, [cmd, '--pod', pod(), '--output', 'json']);
          assert.equal(r.code, 2, `${cmd}: ${r.stdout}${r.stderr}`);
          assert.equal(JSON.parse(r.stdout).code, 'StateCorrupt');
        }
        assert.equal(readFileSync(sim, 'utf8'), text, 'left as it was');
      });
    }

    const file = join(e.dir, 'a-file');
    writeFileSync(file, 'x');
    const ro = join(e.dir, 'read-only');
    mkdirSync(ro, { mode: 0o500 });
    const dirs: [string, string][] = [['a regular file', file], ['under a regular file', join(file, 'state')], ['missing and not creatable', '/proc/lsmns-state']];
    if (process.getuid?.() !== 0) dirs.push(['read-only', ro]);
    for (const [name, dir] of dirs) {
      it(`a state dir that is ${name} is exit 2, naming it`, () => {
        const r = lsmns({ ...e, env: { ...e.env, LSMNS_STATE_DIR: dir } }, ['apply', '--pod', pod(), '--output', 'json']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        const j = JSON.parse(r.stdout);
        assert.ok(j.message.includes(dir), j.message);
        assert.match(j.remedy, /--state-dir|LSMNS_STATE_DIR/);
      });
    }
  });
});
