import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SimRuntime } from '../../../src/kernel/sim/runtime.js';
import { simView } from '../../../src/kernel/sim/view.js';
import { freshSim, tempDir } from './helpers.js';

describe('kernel/sim/runtime', () => {
  const intent = { label: 'unconfined', display: null, container: 'web' } as const;
  function env() {
    const k = freshSim();
    const rt = new SimRuntime(k, join(tempDir(), 'state'));
    const tasks = () => simView(k.store.read(), 'x').tasks.filter((t) => t.container !== null).map((t) => [t.pid, t.container, t.comm]);
    return { k, rt, tasks };
  }

  it('plays the init at createRuntime and ends it at poststop, once per container', async () => {
    const { rt, tasks } = env();
    const b = { dir: '/b', containerId: 'c1' };
    assert.equal(rt.prepare({ ...b, doc: {} }, intent), false, 'config.json is left alone');
    const t = await rt.starting(b);
    assert.ok(t);
    assert.deepEqual(tasks(), [[t.pid, 'c1', 'web']]);
    assert.equal((await rt.starting(b))!.pid, t.pid, 'a second createRuntime starts nothing new');
    await rt.stopped(b);
    assert.deepEqual(tasks(), []);
  });

  it('GC sweeps what a killed shim or runtime left: a record never taken up (after the grace), and a played init whose real init is gone', async () => {
    const { rt, tasks } = env();
    const now = Date.now();
    rt.prepare({ dir: '/never', containerId: 'n1', doc: {} }, intent);
    const real = spawn('sleep', ['60'], { stdio: 'ignore' });
    const live = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      for (const [id, child] of [['d1', real], ['l1', live]] as const) {
        rt.prepare({ dir: `/${id}`, containerId: id, doc: {} }, intent);
        await rt.starting({ dir: `/${id}`, containerId: id, initPid: child.pid });
      }
      assert.deepEqual(await rt.sweep({ now, graceMs: 60_000, dryRun: false }), [], 'inside the grace, and every init alive: nothing goes');
      const exited = new Promise((res) => real.once('exit', res));
      real.kill('SIGKILL');
      await exited;
      // Past the grace by a margin: prepare stamped its records a millisecond or more after `now`.
      const later = now + 61_000;
      const dry = await rt.sweep({ now: later, graceMs: 60_000, dryRun: true });
      assert.equal(dry.length, 2);
      assert.equal(tasks().length, 2, 'a dry run ends nothing');
      const swept = await rt.sweep({ now: later, graceMs: 60_000, dryRun: false });
      assert.deepEqual(swept, dry);
      assert.match(swept.join('\n'), /container n1 .*never started/);
      assert.match(swept.join('\n'), new RegExp(`container d1 .*init \\(pid ${real.pid}\\) is gone`));
      assert.deepEqual(tasks().map((t) => t[1]), ['l1'], 'the live container keeps its played init');
      assert.deepEqual(await rt.sweep({ now: later, graceMs: 60_000, dryRun: false }), [], 'a second sweep finds nothing');
      await rt.stopped({ dir: '/l1', containerId: 'l1' });
      assert.deepEqual(tasks(), []);
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('a duplicate create of a running container keeps its record, and the refused create drops nothing', async () => {
    const { rt, tasks } = env();
    const b = { dir: '/b', containerId: 'c1' };
    rt.prepare({ ...b, doc: {} }, intent);
    const t = await rt.starting(b);
    // The duplicate: the shim prepares again, then the runtime refuses the create.
    rt.prepare({ ...b, doc: {} }, { ...intent, label: ':other:x' });
    rt.abandoned(b);
    await rt.stopped(b);
    assert.deepEqual(tasks(), [], `the running task ${t!.pid} was found and ended at poststop`);
  });

  it('an abandoned create that never started leaves no intent, so a later createRuntime plays nothing', async () => {
    const { rt, tasks } = env();
    const b = { dir: '/b', containerId: 'c2' };
    rt.prepare({ ...b, doc: {} }, intent);
    rt.abandoned(b);
    assert.equal(await rt.starting(b), null);
    assert.deepEqual(tasks(), []);
  });

  it('play starts one task per key and unplay ends it', async () => {
    const { rt, tasks } = env();
    const first = await rt.play('uid:u/web', intent);
    const again = await rt.play('uid:u/web', intent);
    assert.deepEqual([first.fresh, again.fresh, again.task.pid], [true, false, first.task.pid]);
    await rt.unplay('uid:u/web');
    assert.deepEqual(tasks(), []);
  });

  it('initPid: the task that plays a container\'s init, by its CRI id (scheme or not), through the factory\'s lookup', async () => {
    const k = freshSim();
    const rt = new SimRuntime(k, join(tempDir(), 'state'), (id) => k.containerTask(id));
    rt.prepare({ dir: '/b', containerId: 'c0ffee01', doc: {} }, intent);
    const t = await rt.starting({ dir: '/b', containerId: 'c0ffee01' });
    assert.equal(await rt.initPid('containerd://c0ffee01'), t!.pid);
    assert.equal(await rt.initPid('c0ffee01'), t!.pid);
    await rt.stopped({ dir: '/b', containerId: 'c0ffee01' });
    assert.equal(await rt.initPid('c0ffee01'), null);
  });
});

