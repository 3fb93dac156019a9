import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHIM_CRASH_POINTS } from '../../src/apply/crash.js';
import { isLsmnsHook } from '../../src/oci/shim.js';
import type { OciHook } from '../../src/oci/spec.js';
import { ANNOTATIONS, LSMNS, RUNTIMES, SHIM_FRONT, busyboxBundle, runToFile, runtimeWrapper, shimRunner, simEnv, type SimEnv } from './harness.js';
import { killLeftoverAgents, startAgent, type RunningAgent } from '../agent/helpers.js';
import { waitFor } from '../support/wait.js';

// Issue 16: SIGKILL of the runtime shim (`lsmns runtime` in front of real runc) at each of its crash points
// during create, and at random moments during create and delete. After each kill: config.json is the original
// or the fully prepared one; a retried create succeeds (or, when the orphaned runtime made the container, is
// refused cleanly); once the container is deleted, or `lsmns gc` ran, no namespace, marker, lock or runtime
// record is left; and a running bystander container in another namespace keeps everything it had.

type Cfg = Record<string, unknown> & { hooks?: Record<string, OciHook[]> };

/** "original", "prepared" (the original plus lsmns's two hooks, nothing else), or why it is neither. */
function configState(text: string, original: string): string {
  if (text === original) return 'original';
  let cfg: Cfg;
  try {
    cfg = JSON.parse(text) as Cfg;
  } catch (e) {
    return `half-written: ${(e as Error).message}`;
  }
  const ours = ['createRuntime', 'poststop'].filter((s) => (cfg.hooks?.[s] ?? []).some((h) => isLsmnsHook(h, s)));
  if (ours.length !== 2) return `lsmns hooks only for ${ours.join(',') || 'no stage'}`;
  for (const s of Object.keys(cfg.hooks!)) {
    cfg.hooks![s] = cfg.hooks![s]!.filter((h) => !isLsmnsHook(h, s));
    if (cfg.hooks![s]!.length === 0) delete cfg.hooks![s];
  }
  if (Object.keys(cfg.hooks!).length === 0) delete cfg.hooks;
  return JSON.stringify(cfg) === JSON.stringify(JSON.parse(original)) ? 'prepared' : 'prepared, with other changes';
}

describe('the runtime shim SIGKILLed during create and delete, with real runc (issue 16)', function () {
  this.timeout(600_000);
  const rt = RUNTIMES.find((r) => r.name === 'runc')!;
  let e: SimEnv;
  let root: string;
  let wrapper: string;
  const { env, shim, direct, status, stop } = shimRunner(() => ({ e, root, wrapper }));
  const gc = () => runToFile(process.execPath, [LSMNS, 'gc', '--grace', '0', '--output', 'json'], { dir: e.dir, env: env() });
  const owners = () => join(e.options.stateDir, 'owners');
  /** Every file under the marker directory (markers, locks, temporary files), with its bytes. */
  const markers = () => (existsSync(owners()) ? readdirSync(owners()).flatMap((d) => readdirSync(join(owners(), d)).map((f) => `${d}/${f}:${readFileSync(join(owners(), d, f), 'utf8')}`)) : []);
  /** The sim runtime's per-container records (the shim's intents), by container id. */
  const intents = () => {
    const dir = join(e.options.stateDir, 'sim-runtime');
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { containerId: string }).containerId).sort() : [];
  };
  /** Waits until no runtime process for the container is left (a killed shim's runtime runs on, orphaned). */
  const runtimeGone = (id: string) => waitFor(() => spawnSync('pgrep', ['-f', '--', `--root ${root} .*${id}$`]).status === 1, `runc for ${id} to finish`, { timeoutMs: 60_000, intervalMs: 50 });
  /** How long an unkilled create takes here: the random kills fall inside it. */
  let createMs = 1000;
  let bystander: { namespaces: unknown; tasks: unknown; markers: string[] };
  /** Only the bystander's namespace, task, marker and record are left, each as it was. */
  const onlyBystander = (what: string) => {
    assert.deepEqual(e.namespaces(), bystander.namespaces, `${what}: namespaces`);
    assert.deepEqual(e.tasks(), bystander.tasks, `${what}: sim tasks`);
    assert.deepEqual(markers(), bystander.markers, `${what}: markers, locks, temporary files`);
    assert.deepEqual(intents(), ['by1'], `${what}: runtime records`);
  };
  const bundleOf = (name: string) => busyboxBundle(e.dir, { name, annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': `ns-${name}` } });
  const tmpFiles = (b: string) => readdirSync(b).filter((f) => f.startsWith('config.json.'));

  before(async () => {
    e = await simEnv('lsmns-shimcrash-');
    root = join(e.dir, 'root');
    wrapper = runtimeWrapper(e.dir, rt);
    const b = busyboxBundle(e.dir, { name: 'by', annotations: ANNOTATIONS, args: ['sleep', '3600'] });
    const t0 = Date.now();
    assert.equal(shim(['create', '--bundle', b, 'by1']).status, 0);
    createMs = Date.now() - t0;
    assert.equal(shim(['start', 'by1']).status, 0);
    bystander = { namespaces: e.namespaces(), tasks: e.tasks(), markers: markers() };
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-a', profiles: ['p'] }]);
  });
  after(async () => {
    assert.equal((await stop('by1')).status, 0);
    assert.deepEqual(e.namespaces(), []);
    assert.deepEqual(e.tasks(), []);
    assert.deepEqual(intents(), []);
  });

  /** After a kill: the config is whole, and what the orphaned runtime made is known (created, or nothing). */
  async function afterKill(id: string, b: string, original: string): Promise<{ config: string; created: boolean }> {
    await runtimeGone(id);
    const config = configState(readFileSync(join(b, 'config.json'), 'utf8'), original);
    assert.ok(config === 'original' || config === 'prepared', `${id}: config.json is ${config}`);
    const st = status(id);
    assert.ok(st === null || st === 'created', `${id}: the runtime's state is ${st}`);
    return { config, created: st === 'created' };
  }

  /** A retried create succeeds, or is refused cleanly when the container exists; then delete leaves nothing. */
  async function retryThenDelete(id: string, b: string, created: boolean): Promise<void> {
    const tasks = e.tasks();
    const again = shim(['create', '--bundle', b, id]);
    if (created) {
      assert.notEqual(again.status, 0, `${id}: a second create of an existing container is refused`);
      assert.match(again.out, /already exists/);
      assert.deepEqual(e.tasks(), tasks, `${id}: the refused create changed no record`);
    } else {
      assert.equal(again.status, 0, `${id}: the retry succeeds: ${again.out}`);
    }
    assert.equal(status(id), 'created');
    assert.equal(shim(['start', id]).status, 0);
    assert.equal((await stop(id)).status, 0);
    assert.deepEqual(tmpFiles(b), [], `${id}: no temporary config.json left in the bundle`);
    onlyBystander(`${id} retried and deleted`);
  }

  /** The container is deleted without a retry, then `lsmns gc`: nothing left, and a second GC finds nothing. */
  function deleteThenGc(id: string): { runtimeRecords: string[] } {
    direct(['delete', '--force', id]);
    assert.equal(status(id), null);
    const r = gc();
    assert.equal(r.status, 0, r.out);
    const report = JSON.parse(r.out) as { unproven: unknown[]; failed: unknown[]; runtimeRecords: string[] };
    assert.deepEqual([report.unproven, report.failed], [[], []]);
    onlyBystander(`${id} deleted, then gc`);
    assert.match(gc().out, /"runtimeRecords": \[\]/, 'a second GC changes nothing');
    return report;
  }

  it('names every shim crash point below', () => {
    assert.deepEqual([...SHIM_CRASH_POINTS].sort(), ['shim-config', 'shim-config-tmp', 'shim-intent', 'shim-runtime-exited', 'shim-runtime-started']);
  });

  for (const point of SHIM_CRASH_POINTS) {
    for (const then of ['retry', 'gc'] as const) {
      it(`create killed at ${point}, then ${then === 'retry' ? 'the create retried and the container deleted' : 'the container deleted and lsmns gc'}`, async () => {
        const id = `${point.replace('shim-', '')}-${then}`;
        const b = bundleOf(id);
        const original = readFileSync(join(b, 'config.json'), 'utf8');
        const c = shim(['create', '--bundle', b, id], { LSMNS_TEST_CRASH_AT: point });
        assert.equal(c.signal, 'SIGKILL', c.out);
        const k = await afterKill(id, b, original);
        // Where the kill came before the rename, the old file is whole; from the rename on, the new one.
        assert.equal(k.config, ['shim-intent', 'shim-config-tmp'].includes(point) ? 'original' : 'prepared');
        // The orphaned runtime completes the create once it has been started.
        assert.equal(k.created, ['shim-runtime-started', 'shim-runtime-exited'].includes(point));
        if (then === 'retry') await retryThenDelete(id, b, k.created);
        else deleteThenGc(id);
      });
    }
  }

  it('delete killed once the runtime runs (shim-runtime-started): the orphaned delete runs poststop and leaves nothing', async () => {
    const b = bundleOf('del');
    assert.equal(shim(['create', '--bundle', b, 'del']).status, 0);
    assert.equal(shim(['start', 'del']).status, 0);
    direct(['kill', 'del', 'KILL']);
    await waitFor(() => status('del') === 'stopped', 'del stopped', { intervalMs: 50 });
    assert.equal(shim(['delete', 'del'], { LSMNS_TEST_CRASH_AT: 'shim-runtime-started' }).signal, 'SIGKILL');
    await waitFor(() => status('del') === null, 'the orphaned delete to finish', { intervalMs: 50 });
    await runtimeGone('del');
    onlyBystander('delete killed');
  });

  /** Starts the shim and SIGKILLs it (it alone: its runtime runs on, as under a killed containerd shim) after delayMs. */
  function killAfter(args: string[], delayMs: number): Promise<NodeJS.Signals | null> {
    const out = openSync(join(e.dir, `kill-${Date.now()}.out`), 'w');
    const p = spawn(process.execPath, [LSMNS, 'runtime', '--runtime', wrapper, '--', '--root', root, ...args], { cwd: e.dir, env: env(), stdio: ['ignore', out, out] });
    closeSync(out);
    const t = setTimeout(() => p.kill('SIGKILL'), delayMs);
    return new Promise((res) => p.once('exit', (_c, sig) => { clearTimeout(t); res(sig); }));
  }

  it('create and delete killed at random moments: every kill converges by retry or by gc', async () => {
    const tally = { createMs, createKills: 0, deleteKills: 0, prepared: 0, created: 0, survived: 0 };
    for (let i = 0; i < 16; i++) {
      const id = `rand-${i}`;
      const b = bundleOf(id);
      const original = readFileSync(join(b, 'config.json'), 'utf8');
      // Stratified: kill i falls at a random moment of the i-th sixteenth of 1.5 creates, so early and late kills all occur.
      const sig = await killAfter(['create', '--bundle', b, id], Math.floor(((i + Math.random()) / 16) * 1.5 * createMs));
      if (sig === 'SIGKILL') tally.createKills++;
      else tally.survived++;
      const k = await afterKill(id, b, original);
      if (k.config === 'prepared') tally.prepared++;
      if (k.created) tally.created++;
      if (i % 2 === 0) {
        await retryThenDelete(id, b, k.created);
        continue;
      }
      if (!k.created) {
        deleteThenGc(id);
        continue;
      }
      // A created container: start it, then kill its delete (the shim alone) at a random moment, and retry.
      assert.equal(shim(['start', id]).status, 0);
      direct(['kill', id, 'KILL']);
      await waitFor(() => status(id) === 'stopped', `${id} stopped`, { intervalMs: 50 });
      if ((await killAfter(['delete', id], Math.floor(Math.random() * createMs / 2))) === 'SIGKILL') tally.deleteKills++;
      await runtimeGone(id);
      if (status(id) !== null) assert.equal(shim(['delete', id]).status, 0);
      deleteThenGc(id);
    }
    console.log(`      random kills: ${JSON.stringify(tally)}`);
  });
});

// Served mode: the sh front asks the agent to prepare the bundle (POST /v1/shim/prepare), so the shim's crash
// points before the runtime are the agent's. A killed agent fails the create closed; after its restart the
// retried create works, or `lsmns gc` sweeps what it left.
describe('the agent SIGKILLed while it prepares a bundle for the served sh front, with real runc (issue 16)', function () {
  this.timeout(300_000);
  const rt = RUNTIMES.find((r) => r.name === 'runc')!;
  let e: SimEnv;
  let root: string;
  let wrapper: string;
  let agent: RunningAgent;
  const { direct, status } = shimRunner(() => ({ e, root, wrapper }));
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, ...e.env, LSMNS_POLICY_WAIT: '0', ...extra });
  const front = (args: string[]) => runToFile('sh', [SHIM_FRONT, '--root', root, ...args], { dir: e.dir, env: env({ LSMNS_SHIM_MODE: 'served', LSMNS_RUNTIME: wrapper }) });
  const start = async (extra: NodeJS.ProcessEnv = {}) => (agent = await startAgent({ dir: e.dir, env: env(extra) }, e.options.socket));
  const nothingLeft = (what: string) => {
    assert.deepEqual(e.namespaces(), [], `${what}: namespaces`);
    assert.deepEqual(e.tasks(), [], `${what}: sim tasks`);
    const owners = join(e.options.stateDir, 'owners');
    assert.deepEqual(existsSync(owners) ? readdirSync(owners).flatMap((d) => readdirSync(join(owners, d))) : [], [], `${what}: markers`);
    const records = join(e.options.stateDir, 'sim-runtime');
    assert.deepEqual(existsSync(records) ? readdirSync(records).filter((f) => f.endsWith('.json')) : [], [], `${what}: runtime records`);
  };
  before(async () => {
    e = await simEnv('lsmns-servedcrash-');
    root = join(e.dir, 'root');
    wrapper = runtimeWrapper(e.dir, rt);
    await start();
  });
  after(async () => {
    await agent.stop();
    killLeftoverAgents();
  });

  it('the sh front killed at random moments (the front, the thin client mid-call, or runc it exec\'d into): delete, then lsmns gc, converges to nothing left', async () => {
    const frontArgs = (id: string, b: string) => [SHIM_FRONT, '--root', root, 'create', '--bundle', b, id];
    const frontEnv = env({ LSMNS_SHIM_MODE: 'served', LSMNS_RUNTIME: wrapper });
    const ns = (id: string) => ({ ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': `ns-${id}` });
    // How long an unkilled create takes here: the second of two (the agent's first call warms it up).
    let createMs = 0;
    for (const id of ['rnd-warm1', 'rnd-warm2']) {
      const warm = busyboxBundle(e.dir, { name: id, annotations: ns(id) });
      const t0 = Date.now();
      assert.equal(front(['create', '--bundle', warm, id]).status, 0);
      createMs = Date.now() - t0;
      direct(['delete', '--force', id]);
    }
    const tally = { createMs, killed: 0, survived: 0, prepared: 0, created: 0, gcRuns: 0 };
    const n = 12;
    for (let i = 0; i < n; i++) {
      const id = `rnd-${i}`;
      const b = busyboxBundle(e.dir, { name: id, annotations: ns(id) });
      const original = readFileSync(join(b, 'config.json'), 'utf8');
      const out = openSync(join(e.dir, `${id}.out`), 'w');
      const p = spawn('sh', frontArgs(id, b), { cwd: e.dir, env: frontEnv, stdio: ['ignore', out, out] });
      closeSync(out);
      const t = setTimeout(() => p.kill('SIGKILL'), Math.floor(((i + Math.random()) / n) * 1.5 * createMs));
      const sig = await new Promise<NodeJS.Signals | null>((res) => p.once('exit', (_c, sg) => { clearTimeout(t); res(sg); }));
      if (sig === 'SIGKILL') tally.killed++;
      else tally.survived++;
      await waitFor(() => spawnSync('pgrep', ['-f', '--', `--root ${root} .*${id}$`]).status === 1, `runc for ${id} gone`, { timeoutMs: 60_000, intervalMs: 50 });
      const config = configState(readFileSync(join(b, 'config.json'), 'utf8'), original);
      assert.ok(config === 'original' || config === 'prepared', `${id}: config.json is ${config}`);
      if (config === 'prepared') tally.prepared++;
      if (status(id) !== null) tally.created++;
      direct(['delete', '--force', id]);
      assert.equal(status(id), null);
      // A hook that runc started may still be finishing, orphaned: GC converges once it has.
      await waitFor(() => {
        tally.gcRuns++;
        const r = runToFile(process.execPath, [LSMNS, 'gc', '--grace', '0', '--output', 'json'], { dir: e.dir, env: env() });
        assert.equal(r.status, 0, r.out);
        assert.deepEqual((JSON.parse(r.out) as { unproven: unknown[] }).unproven, [], 'no hook was killed, so nothing is unproven');
        try {
          nothingLeft(id);
          return true;
        } catch {
          return false;
        }
      }, `${id}: nothing left after gc`, { timeoutMs: 30_000, intervalMs: 500 });
    }
    console.log(`      served random kills: ${JSON.stringify(tally)}`);
  });

  for (const point of ['shim-intent', 'shim-config-tmp', 'shim-config'] as const) {
    for (const then of ['retry', 'gc'] as const) {
      it(`agent killed at ${point}: the create fails closed; after a restart, ${then === 'retry' ? 'the retried create works and delete leaves nothing' : 'lsmns gc leaves nothing'}`, async () => {
        await agent.stop();
        await start({ LSMNS_TEST_CRASH_AT: point });
        const id = `srv-${point.replace('shim-', '')}-${then}`;
        const b = busyboxBundle(e.dir, { name: id, annotations: { ...ANNOTATIONS, 'lsmns.io/apparmor-namespace': `ns-${id}` } });
        const original = readFileSync(join(b, 'config.json'), 'utf8');
        const c = front(['create', '--bundle', b, id]);
        assert.notEqual(c.status, 0, c.out);
        assert.equal(await agent.exited, null, 'the agent died of its signal');
        assert.equal(configState(readFileSync(join(b, 'config.json'), 'utf8'), original), point === 'shim-config' ? 'prepared' : 'original');
        assert.equal(status(id), null, 'the runtime was never run');
        await start();
        if (then === 'retry') {
          const again = front(['create', '--bundle', b, id]);
          assert.equal(again.status, 0, again.out);
          assert.deepEqual(readdirSync(b).filter((f) => f.startsWith('config.json.')), [], 'no temporary config.json left');
          direct(['kill', id, 'KILL']);
          await waitFor(() => status(id) === 'stopped', `${id} stopped`, { intervalMs: 50 });
          assert.equal(direct(['delete', id]).status, 0);
          nothingLeft(`${id}: retried and deleted`);
        } else {
          const r = runToFile(process.execPath, [LSMNS, 'gc', '--grace', '0'], { dir: e.dir, env: env() });
          assert.equal(r.status, 0, r.out);
          assert.match(r.out, /dropped sim runtime record of container srv-/, 'the record the killed agent wrote');
          nothingLeft(`${id}: gc`);
        }
      });
    }
  }
});
