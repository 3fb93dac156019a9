import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { collectOrphans } from '../../src/apply/gc.js';
import { join } from 'node:path';
import { applyPlan, type ApplyContext } from '../../src/apply/executor.js';
import { OwnershipStore } from '../../src/apply/ownership.js';
import { LsmnsError } from '../../src/errors.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { FilePolicyStore } from '../../src/policy/store.js';
import { simView } from '../../src/kernel/sim/view.js';
import { plan } from '../../src/plan/planner.js';
import { readBundleConfig } from '../../src/oci/spec.js';
import { requestFromBundle } from '../../src/oci/request.js';
import { requestFromPod } from '../../src/plan/request.js';
import { checkPod } from '../../src/schema/pod.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';
import { bundle } from '../support/bundle.js';
import { HOSTILE_VALUES, NAME_KEYS } from '../support/hostile.js';
import { nodeSnapshot } from '../support/state.js';

interface Env {
  dir: string;
  sim: string;
  port: SimKernel;
  policyDir: string;
  stateDir: string;
  /** The ports and stores every applyPlan call of these tests is given. */
  ctx: Pick<ApplyContext, 'port' | 'runtime' | 'policies' | 'stateDir'>;
}

function env(boot = {}): Env {
  const dir = tempDir();
  const policyDir = join(dir, 'policies');
  mkdirSync(join(policyDir, 'team-a'), { recursive: true });
  writeFileSync(join(policyDir, 'team-a', 'web.aa'), PROFILE_P);
  const sim = join(dir, 'sim.json');
  const port = new SimKernel({ path: sim, boot });
  const stateDir = join(dir, 'state');
  return { dir, sim, port, policyDir, stateDir, ctx: { port, runtime: new SimRuntime(port, stateDir), policies: new FilePolicyStore(policyDir), stateDir } };
}

function podPlan(e: Env, ann: Record<string, string>, uid = 'uid-1', containers = ['c']) {
  const pod = checkPod({ metadata: { name: 'web', namespace: 'team-a', uid, annotations: ann }, spec: { containers: containers.map((name) => ({ name })) } }, 'pod').pod!;
  return requestFromPod(pod, 'pod', {});
}

/** The same annotations arriving through an OCI bundle's config.json, as a runtime hands it to the hook. */
function bundlePlan(e: Env, ann: Record<string, string>) {
  const { path, config } = readBundleConfig(bundle(e, ann));
  return requestFromBundle(config, { kind: 'bundle', ref: path }, null, {});
}

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' };

async function run(e: Env, ann: Record<string, string>, o: Partial<ApplyContext> & { uid?: string } = {}) {
  const p = plan(podPlan(e, ann, o.uid), await e.port.probe());
  return applyPlan(p, { ...e.ctx, stage: 'create', refs: ['ctr-1'], actors: ['hook'], ...o });
}

/** What a user can observe of the kernel: namespaces, profiles and task labels. */
function observable(e: Env) {
  const v = simView(e.port.store.read(), 'x');
  return { namespaces: v.namespaces, tasks: v.tasks };
}

async function rejectsWith(p: Promise<unknown>, code: string, exitCode: number): Promise<LsmnsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LsmnsError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitCode, exitCode);
    return err;
  }
  throw new Error(`expected ${code}`);
}

describe('apply/executor', () => {
  it('creates the namespace, loads the policy, and a re-run is a no-op', async () => {
    const e = env();
    const r1 = await run(e, ANN);
    assert.deepEqual(r1.results.map((r) => [r.kind, r.outcome]), [['checkNode', 'done'], ['createNamespace', 'done'], ['loadPolicy', 'done'], ['setDisplayLsm', 'skipped'], ['transitionRootTask', 'skipped']]);
    assert.deepEqual(await e.port.listProfiles('tenant-a'), ['p']);
    const r2 = await run(e, ANN, { refs: ['ctr-2'] });
    assert.deepEqual(r2.results.slice(1, 3).map((r) => r.outcome), ['noop', 'noop']);
  });

  it('keeps the namespace until the last reference is released', async () => {
    const e = env();
    await run(e, ANN, { refs: ['sandbox'] });
    await run(e, ANN, { refs: ['app'] });
    const stop = async (ref: string) => applyPlan(plan(podPlan(e, ANN), await e.port.probe()), { ...e.ctx, stage: 'poststop', refs: [ref], actors: ['hook'] });
    assert.equal((await stop('app')).results[0]!.outcome, 'noop');
    assert.deepEqual(await e.port.listNamespaces(), ['tenant-a']);
    assert.equal((await stop('sandbox')).results[0]!.outcome, 'done');
    assert.deepEqual(await e.port.listNamespaces(), []);
  });

  it('unwinds what it created when a later step fails, and says so', async () => {
    const e = env();
    const before = observable(e);
    await e.port.store.mutate((s) => { s.faults.push({ op: 'policyLoad', errno: 'ENOMEM' }); });
    const err = await rejectsWith(run(e, ANN), 'KernelRefused', 4);
    assert.match(err.message, /step 3 loadPolicy ns "tenant-a".*ENOMEM.*unwound: removed namespace tenant-a/);
    assert.deepEqual(observable(e), before);
    const owners = new OwnershipStore({ stateDir: e.stateDir, backend: 'sim', bootId: await e.port.bootId() });
    assert.deepEqual(owners.list(), [], 'no ownership marker is left');
  });

  it('never joins or removes a namespace it did not create', async () => {
    const e = env();
    await e.port.createNamespace('tenant-a');
    await rejectsWith(run(e, ANN), 'NamespaceNotOwned', 4);
    const p = plan(podPlan(e, ANN), await e.port.probe());
    const r = await applyPlan(p, { ...e.ctx, stage: 'poststop', refs: ['ctr-1'], actors: ['hook'] });
    assert.equal(r.results[0]!.outcome, 'not-mine');
    assert.deepEqual(await e.port.listNamespaces(), ['tenant-a']);
  });

  it('refuses a namespace another pod owns', async () => {
    const e = env();
    await run(e, ANN, { uid: 'first' });
    const err = await rejectsWith(run(e, ANN, { uid: 'second' }), 'NamespaceOwnedByOther', 4);
    assert.match(err.message, /belongs to another pod \(uid:first\)/);
  });

  it('checks the policy before changing anything', async () => {
    const e = env();
    const before = observable(e);
    await rejectsWith(run(e, { ...ANN, 'lsmns.io/apparmor-policy': 'absent' }), 'PolicyNotFound', 2);
    writeFileSync(join(e.policyDir, 'team-a', 'bad.aa'), 'profile p { /** r, ');
    await rejectsWith(run(e, { ...ANN, 'lsmns.io/apparmor-policy': 'bad' }), 'PolicyInvalid', 2);
    await rejectsWith(run(e, { ...ANN, 'lsmns.io/apparmor-profile': 'other' }), 'PolicyInvalid', 2);
    assert.deepEqual(observable(e), before);
  });

  it('refuses a tenant policy that escapes its namespace before any load, naming the profile and the line', async () => {
    const e = env();
    const before = observable(e);
    const escapes: [string, string, RegExp][] = [
      ['evil', 'profile p {\n}\nprofile :other:evil {\n}\n', /evil\.aa:3:\d+: .*:other:evil addresses a namespace/],
      ['jump', 'profile p {\n  change_profile -> :root:unconfined,\n}\n', /jump\.aa:2:\d+: .*change_profile targets a profile in another namespace/],
      ['stack', 'profile p {\n  /bin/x px -> p//&q,\n}\n', /stack\.aa:2:\d+: .*stacked label/],
    ];
    for (const [name, text, message] of escapes) {
      writeFileSync(join(e.policyDir, 'team-a', `${name}.aa`), text);
      const err = await rejectsWith(run(e, { ...ANN, 'lsmns.io/apparmor-policy': name }), 'PolicyInvalid', 2);
      assert.match(err.message, message);
    }
    assert.deepEqual(observable(e), before, 'no namespace was made, nothing was loaded');
  });

  it('waits a bounded time for a late policy', async () => {
    const e = env();
    setTimeout(() => writeFileSync(join(e.policyDir, 'team-a', 'late.aa'), PROFILE_P), 150);
    const r = await run(e, { ...ANN, 'lsmns.io/apparmor-policy': 'late' }, { policyWaitMs: 3000 });
    assert.equal(r.results[2]!.outcome, 'done');
  });

  it('refuses to apply on a node without AppArmor (exit 3) and changes nothing', async () => {
    const e = env({ lsm: 'lockdown,capability,landlock,bpf', kernel: '6.18.0' });
    const p = plan(podPlan(e, ANN), await e.port.probe());
    const before = nodeSnapshot(e);
    await rejectsWith(applyPlan(p, { ...e.ctx, stage: 'create', refs: ['c'], actors: ['hook'] }), 'NotPossibleOnNode', 3);
    assert.equal(nodeSnapshot(e), before, 'the sim file is byte for byte the same');
    assert.equal(existsSync(e.stateDir), false, 'no state dir, so no ownership marker');
  });

  describe('hostile annotations: exit 2, the key named, nothing changed', () => {
    // A sim with a namespace in it, so that "unchanged" means something.
    let e: Env;
    let seeded = '';
    before(async () => {
      e = env();
      await run(e, { ...ANN, 'lsmns.io/apparmor-namespace': 'seed' }, { uid: 'seed' });
      seeded = nodeSnapshot(e);
    });
    for (const key of NAME_KEYS) {
      for (const h of HOSTILE_VALUES) {
        it(`${key} with ${h.name}`, async () => {
          const ann = { ...ANN, [key]: h.value };
          for (const [from, req] of [['pod', podPlan(e, ann)], ['bundle', bundlePlan(e, ann)]] as const) {
            const err = await rejectsWith(applyPlan(plan(req, await e.port.probe()), { ...e.ctx, stage: 'create', refs: ['c'], actors: ['hook', 'shim', 'webhook', 'kernel'] }), 'InvalidAnnotation', 2);
            assert.ok(err.problems.some((p) => p.key === key), `${from}: a problem names ${key}: ${err.message}`);
            assert.ok(err.message.includes(key), `${from}: the message names ${key}`);
            assert.equal(nodeSnapshot(e), seeded, `${from}: the sim file and the state dir are unchanged`);
          }
        });
      }
    }
  });

  it('plays the runtime when asked: tasks run under the planned labels and end at poststop', async () => {
    const e = env();
    const p = plan(podPlan(e, ANN, 'u', ['a', 'b']), await e.port.probe());
    const all = ['hook', 'shim', 'webhook', 'kernel'] as const;
    const r = await applyPlan(p, { ...e.ctx, stage: 'create', refs: ['a', 'b'], actors: [...all] });
    assert.deepEqual(r.tasks.map((t) => t.label), ['unconfined//&:tenant-a:p (enforce)', 'unconfined//&:tenant-a:p (enforce)']);
    await applyPlan(p, { ...e.ctx, stage: 'poststop', refs: ['a', 'b'], actors: [...all] });
    assert.deepEqual(observable(e).tasks.map((t) => t.comm), ['init']);
  });
});

describe('apply/executor: the journal and self-healing ownership (issue 16)', () => {
  const ownersOf = async (e: Env, stateDir = e.stateDir) => new OwnershipStore({ stateDir, backend: 'sim', bootId: await e.port.bootId() });
  const stop = async (e: Env, ref: string, o: Partial<ApplyContext> & { uid?: string } = {}) => applyPlan(plan(podPlan(e, ANN, o.uid), await e.port.probe()), { ...e.ctx, stage: 'poststop', refs: [ref], actors: ['hook'], ...o });
  /** A real process standing in for a container init, and the way to end it. */
  const init = () => {
    const c = spawn('sleep', ['30']);
    return { pid: c.pid!, exit: async () => { c.kill('SIGKILL'); await new Promise((r) => c.once('exit', r)); } };
  };

  it('a "creating" marker proves nothing: another creator\'s namespace of that name is never adopted, re-policied or removed', async () => {
    const e = env();
    const owners = await ownersOf(e);
    // What a hook killed after its "creating" marker and before its mkdir leaves.
    const p = plan(podPlan(e, ANN), await e.port.probe());
    owners.put({ formatVersion: '1', namespace: 'tenant-a', podKey: p.input.podKey, pod: p.input.pod, sandboxId: null, state: 'creating', refs: [], policy: null, createdAt: new Date().toISOString(), createdByPid: 1 });
    // Another creator (its own state dir, standing in for any other tool) makes the namespace and loads its policy.
    const otherPolicy = join(e.dir, 'other-policies');
    mkdirSync(join(otherPolicy, 'team-a'), { recursive: true });
    writeFileSync(join(otherPolicy, 'team-a', 'web.aa'), PROFILE_P.replace(/^(\s*)(capability|file|network)[^\n]*$/m, '$1file,'));
    await applyPlan(p, { ...e.ctx, policies: new FilePolicyStore(otherPolicy), stateDir: join(e.dir, 'other-state'), stage: 'create', refs: ['other-1'], actors: ['hook'] });
    const theirs = observable(e);
    const err = await rejectsWith(run(e, ANN), 'NamespaceNotOwned', 4);
    assert.match(err.message, /no completed record of this boot/);
    assert.deepEqual(observable(e), theirs, 'not reused, not re-policied');
    assert.equal((await stop(e, 'ctr-1')).results[0]!.outcome, 'not-mine');
    assert.deepEqual(observable(e), theirs, 'not removed');
    assert.deepEqual((await ownersOf(e, join(e.dir, 'other-state'))).get('tenant-a')!.refs, ['other-1']);
  });

  it('a ready marker whose namespace was removed and made again by someone else proves nothing either', async () => {
    const e = env();
    await run(e, ANN);
    await e.port.removeNamespace('tenant-a');
    await e.port.createNamespace('tenant-a');
    const foreign = observable(e);
    await rejectsWith(run(e, ANN, { refs: ['ctr-2'] }), 'NamespaceNotOwned', 4);
    assert.equal((await stop(e, 'ctr-1')).results[0]!.outcome, 'not-mine');
    assert.deepEqual(observable(e), foreign);
  });

  it('another pod\'s namespace whose every container has exited is released at the next createRuntime that names it', async () => {
    const e = env();
    const first = init();
    await run(e, ANN, { uid: 'first', holderPid: first.pid });
    await first.exit();
    const r = await run(e, ANN, { uid: 'second', refs: ['ctr-2'], holderPid: process.pid });
    assert.equal(r.results.find((x) => x.kind === 'createNamespace')!.outcome, 'done');
    const rec = (await ownersOf(e)).get('tenant-a')!;
    assert.equal(rec.podKey, 'uid:second');
    assert.deepEqual(rec.refs, ['ctr-2']);
    assert.equal(rec.holders!['ctr-2']!.pid, process.pid);
  });

  it('another pod\'s namespace with a running container (or one whose pid is unknown) is still refused', async () => {
    const e = env();
    await run(e, ANN, { uid: 'first', holderPid: process.pid });
    await rejectsWith(run(e, ANN, { uid: 'second' }), 'NamespaceOwnedByOther', 4);
    const f = env();
    await run(f, ANN, { uid: 'first' });
    await rejectsWith(run(f, ANN, { uid: 'second' }), 'NamespaceOwnedByOther', 4);
  });

  it('poststop drops the references of containers that exited without one, and removes the namespace with the last live one', async () => {
    const e = env();
    const sandbox = init();
    await run(e, ANN, { refs: ['sandbox'], holderPid: sandbox.pid });
    await run(e, ANN, { refs: ['app'], holderPid: process.pid });
    assert.deepEqual((await ownersOf(e)).get('tenant-a')!.refs, ['app', 'sandbox']);
    await sandbox.exit();
    assert.equal((await stop(e, 'app')).results[0]!.outcome, 'done');
    assert.deepEqual(await e.port.listNamespaces(), []);
  });

  it('a "removing" entry (a crash before the rmdir) is finished by the next createRuntime', async () => {
    const e = env();
    await run(e, ANN);
    const owners = await ownersOf(e);
    owners.put({ ...owners.get('tenant-a')!, state: 'removing' });
    const r = await run(e, ANN, { refs: ['ctr-2'] });
    assert.equal(r.results.find((x) => x.kind === 'createNamespace')!.outcome, 'done', 'made fresh after the removal was finished');
    assert.deepEqual(owners.get('tenant-a')!.refs, ['ctr-2']);
  });

  it('a caller that has gone gets no effect: the run stops before the next step and unwinds', async () => {
    const e = env();
    const before = observable(e);
    const ac = new AbortController();
    ac.abort();
    const err = await rejectsWith(run(e, ANN, { signal: ac.signal }), 'ClientGone', 4);
    assert.match(err.message, /step 2 createNamespace/);
    assert.deepEqual(observable(e), before);
  });

  it('a truncated marker is quarantined with a message (exit 4, never 1), and its namespace is never reused or removed', async () => {
    const e = env();
    await run(e, ANN);
    const owners = await ownersOf(e);
    const file = join(owners.dir, 'tenant-a.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40));
    const err = await rejectsWith(run(e, ANN, { refs: ['ctr-2'] }), 'StateCorrupt', 4);
    assert.match(err.message, /moved aside to/);
    await rejectsWith(run(e, ANN, { refs: ['ctr-2'] }), 'NamespaceNotOwned', 4);
    assert.equal((await stop(e, 'ctr-1')).results[0]!.outcome, 'not-mine');
    const r = await collectOrphans({ owners, port: e.port, isLive: () => ({ live: false, why: 'gone' }), now: Date.now, graceMs: 0 });
    assert.deepEqual(r.removed, []);
    assert.deepEqual(await e.port.listNamespaces(), ['tenant-a']);
  });
});
