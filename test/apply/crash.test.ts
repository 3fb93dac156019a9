import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JOURNAL_CRASH_POINTS } from '../../src/apply/crash.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { BIN, cliEnv, type CliEnv } from '../commands/cli.js';

// SIGKILL at every crash point of the journal (LSMNS_TEST_CRASH_AT), through the real CLI; then the next front
// door, or `lsmns gc`, converges: no leaked namespace, no half-made marker, no lock left to wait for (issue 16).

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': 'u-1' };

interface Ctx {
  e: CliEnv;
  bundle: string;
  inits: ChildProcess[];
}

function setup(): Ctx {
  const e = cliEnv();
  const bundle = join(e.dir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, annotations: ANN }));
  return { e, bundle, inits: [] };
}

/** One hook call for container id, whose init is a real process (its pid is the OCI state's). */
function hook(c: Ctx, stage: string, id: string, crashAt?: string) {
  let init = c.inits.find((p) => (p as ChildProcess & { cid?: string }).cid === id);
  if (!init) {
    init = Object.assign(spawn('sleep', ['60']), { cid: id });
    c.inits.push(init);
  }
  const state = JSON.stringify({ ociVersion: '1.0.2', id, status: stage === 'poststop' ? 'stopped' : 'creating', pid: init.pid, bundle: c.bundle, annotations: ANN });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'hook', stage], { input: state, encoding: 'utf8', timeout: 30_000, env: { ...c.e.env, ...(crashAt ? { LSMNS_TEST_CRASH_AT: crashAt } : {}) } });
  return { code: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t0 };
}

function gc(c: Ctx) {
  const r = spawnSync(process.execPath, [BIN, 'gc', '--grace', '0', '--output', 'json'], { encoding: 'utf8', env: c.e.env, timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { removed: { namespace: string }[]; unproven: { namespace: string }[]; failed: unknown[] };
}

async function exitAll(c: Ctx) {
  await Promise.all(c.inits.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => { p.once('exit', r); p.kill('SIGKILL'); }))));
}

async function namespaces(c: Ctx) {
  return new SimKernel({ path: c.e.sim }).listNamespaces();
}

/** What is left in the marker directory: markers, locks, temporary files. */
function leftovers(c: Ctx): string[] {
  const root = join(c.e.stateDir, 'owners');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

const CREATE_POINTS = ['marker-creating', 'mkdir', 'marker-ready', 'policy-load', 'policy-marker'] as const;
const POSTSTOP_POINTS = ['refs', 'marker-removing', 'rmdir', 'marker-deleted'] as const;

describe('apply/crash: SIGKILL at every journal point, then convergence', function () {
  this.timeout(120_000);
  it('every crash point is exercised below', () => {
    assert.deepEqual([...new Set([...CREATE_POINTS, ...POSTSTOP_POINTS])].sort(), [...JOURNAL_CRASH_POINTS].sort());
  });

  for (const point of CREATE_POINTS) {
    it(`createRuntime killed at ${point}: the retry (or the refusal, after the mkdir) is immediate; poststop leaves nothing`, async () => {
      const c = setup();
      try {
        assert.equal(hook(c, 'createRuntime', 'c1', point).signal, 'SIGKILL');
        const again = hook(c, 'createRuntime', 'c1');
        assert.ok(again.ms < 3_000, `the dead hook's lock was taken at once (${again.ms} ms)`);
        if (point === 'mkdir') {
          // Nothing proves the namespace is lsmns's: it may be another creator's, made after the crash.
          assert.equal(again.code, 4, again.stderr);
          assert.match(again.stderr, /already exists and lsmns did not create it/);
          assert.deepEqual(await namespaces(c), ['tenant-a']);
          assert.deepEqual(leftovers(c), []);
          return;
        }
        assert.equal(again.code, 0, again.stderr);
        assert.equal(hook(c, 'poststop', 'c1').code, 0);
        assert.deepEqual(await namespaces(c), []);
        assert.deepEqual(leftovers(c), []);
      } finally {
        await exitAll(c);
      }
    });

    it(`createRuntime killed at ${point}, the container gone: lsmns gc converges, and a second run changes nothing`, async () => {
      const c = setup();
      try {
        assert.equal(hook(c, 'createRuntime', 'c1', point).signal, 'SIGKILL');
        await exitAll(c);
        const r = gc(c);
        if (point === 'mkdir') {
          assert.deepEqual(r.unproven.map((x) => x.namespace), ['tenant-a'], 'reported, not removed');
          assert.deepEqual(await namespaces(c), ['tenant-a']);
        } else {
          assert.deepEqual(await namespaces(c), []);
          if (point !== 'marker-creating') assert.deepEqual(r.removed.map((x) => x.namespace), ['tenant-a']);
        }
        assert.deepEqual(leftovers(c), []);
        const second = gc(c);
        assert.deepEqual([second.removed, second.unproven, second.failed], [[], [], []]);
      } finally {
        await exitAll(c);
      }
    });
  }

  for (const point of POSTSTOP_POINTS) {
    it(`poststop killed at ${point}: poststop again converges, or lsmns gc does`, async () => {
      for (const then of ['poststop', 'gc'] as const) {
        const c = setup();
        try {
          assert.equal(hook(c, 'createRuntime', 'c1').code, 0);
          // "refs" is passed when a container other than the last releases (and when one is added).
          if (point === 'refs') assert.equal(hook(c, 'createRuntime', 'c2').code, 0);
          assert.equal(hook(c, 'poststop', 'c1', point).signal, 'SIGKILL');
          if (then === 'poststop') {
            const again = hook(c, 'poststop', 'c1');
            assert.equal(again.code, 0, again.stderr);
            assert.ok(again.ms < 3_000, `${again.ms} ms`);
            if (point === 'refs') assert.equal(hook(c, 'poststop', 'c2').code, 0);
          } else {
            await exitAll(c);
            gc(c);
          }
          assert.deepEqual(await namespaces(c), [], then);
          assert.deepEqual(leftovers(c), [], then);
        } finally {
          await exitAll(c);
        }
      }
    });
  }
});
