import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { OwnershipStore } from '../../src/apply/ownership.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { BIN, cliEnv, type CliEnv } from '../commands/cli.js';
import { ANN, CLIENTS, client, killLeftoverAgents, startAgent } from '../agent/helpers.js';
import { bundle } from '../support/bundle.js';

// Concurrency (issue 16; here with the slow suites: 200 node processes at once take a minute on two cores): 100 hooks for one pod and 100 hooks for 100 pods at once, standalone (one process
// each) and served (the thin client to one agent), against one sim file and one state dir. Every call ends
// with exit 0, and the namespaces and reference counts are right; none waits past the client's 8 s.

const N = 100;

function hookProc(e: CliEnv, stage: string, input: string): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = execFile(process.execPath, [BIN, 'hook', stage], { env: e.env, timeout: 60_000 }, (err, _o, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? -1 : 0, stderr, ms: Date.now() - t0 }));
    c.stdin!.end(input);
  });
}

const state = (b: string, id: string, ann: Record<string, string>, status = 'creating') => JSON.stringify({ ociVersion: '1.0.2', id, status, pid: process.pid, bundle: b, annotations: ann });

async function markers(e: CliEnv) {
  const sim = new SimKernel({ path: e.sim });
  return new OwnershipStore({ stateDir: e.stateDir, backend: 'sim', bootId: await sim.bootId() }).list().map((r) => [r.namespace, r.refs.length] as const);
}

async function namespaces(e: CliEnv) {
  return (await new SimKernel({ path: e.sim }).listNamespaces()).sort();
}

type Front = (e: CliEnv, stage: string, input: string) => Promise<{ code: number; stderr: string }>;

/**
 * Runs the calls at once. A call may fail only with a bounded lock or queue wait that names what it waited
 * for (exit 4); those are retried one by one afterwards, as a runtime's retry would. Returns how many failed.
 */
async function allAtOnce(front: Front, e: CliEnv, calls: [string, string][]): Promise<number> {
  const rs = await Promise.all(calls.map(([stage, input]) => front(e, stage, input)));
  const failed = calls.filter((_, i) => rs[i]!.code !== 0);
  for (const r of rs.filter((x) => x.code !== 0)) {
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot lock (namespace|simulated kernel state) \S+: \S+\.lock is held by pid \d+ and was not released within \d+ ms|the agent is busy/, r.stderr);
  }
  for (const [stage, input] of failed) {
    const r = await front(e, stage, input);
    assert.equal(r.code, 0, r.stderr);
  }
  return failed.length;
}

export const observed: Record<string, number> = {};

function scenarios(kind: string, front: () => Front, setup: (e: CliEnv) => Promise<void> = async () => {}) {
  it(`${N} containers of one pod at once, then their ${N} poststops: one namespace with ${N} references, then none`, async () => {
    const e = cliEnv();
    await setup(e);
    const b = bundle(e, ANN);
    observed[`${kind} one pod up`] = await allAtOnce(front(), e, Array.from({ length: N }, (_, i) => ['createRuntime', state(b, `c${i}`, ANN)]));
    assert.deepEqual(await markers(e), [['tenant-a', N]]);
    assert.deepEqual(await namespaces(e), ['tenant-a']);
    observed[`${kind} one pod down`] = await allAtOnce(front(), e, Array.from({ length: N }, (_, i) => ['poststop', state(b, `c${i}`, ANN, 'stopped')]));
    assert.deepEqual(await markers(e), []);
    assert.deepEqual(await namespaces(e), []);
  });

  it(`${N} pods at once, then their poststops: ${N} namespaces with one reference each, then none`, async () => {
    const e = cliEnv();
    await setup(e);
    const pods = Array.from({ length: N }, (_, i) => {
      const ann = { ...ANN, 'lsmns.io/apparmor-namespace': `t-${i}`, 'io.kubernetes.cri.sandbox-uid': `u-${i}` };
      return { ann, b: bundle(e, ann, `b${i}`) };
    });
    observed[`${kind} ${N} pods up`] = await allAtOnce(front(), e, pods.map((p, i) => ['createRuntime', state(p.b, `c${i}`, p.ann)]));
    assert.deepEqual(await markers(e), pods.map((_, i) => [`t-${i}`, 1] as const).sort((a, b) => a[0].localeCompare(b[0])));
    observed[`${kind} ${N} pods down`] = await allAtOnce(front(), e, pods.map((p, i) => ['poststop', state(p.b, `c${i}`, p.ann, 'stopped')]));
    assert.deepEqual(await namespaces(e), []);
    assert.deepEqual(await markers(e), []);
  });
}

describe('concurrency: standalone hooks (one process each)', function () {
  this.timeout(300_000);
  scenarios('standalone', () => hookProc);
});

describe('concurrency: served hooks (the native thin client, one agent)', function () {
  this.timeout(300_000);
  after(() => killLeftoverAgents());
  let agent: { socket: string; stop: () => Promise<number | null> } | null = null;
  const served: Front = (e, stage, input) => client(agent!.socket, stage, input, e.env, CLIENTS[1]);
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });
  scenarios('served', () => served, async (e) => {
    agent = await startAgent(e, join(e.dir, 'run', 'agent.sock'), ['--gc-interval', '3600']);
  });
  it('500 pods at once: every call is done, or refused with nothing done (busy, or its client gave up); references only for the calls that succeeded', async () => {
    const e = cliEnv();
    agent = await startAgent(e, join(e.dir, 'run', 'agent.sock'), ['--gc-interval', '3600']);
    const pods = Array.from({ length: 500 }, (_, i) => {
      const ann = { ...ANN, 'lsmns.io/apparmor-namespace': `t-${i}`, 'io.kubernetes.cri.sandbox-uid': `u-${i}` };
      return { ann, b: bundle(e, ann, `b${i}`), ns: `t-${i}` };
    });
    const rs = await Promise.all(pods.map((p, i) => served(e, 'createRuntime', state(p.b, `c${i}`, p.ann))));
    for (const r of rs.filter((x) => x.code !== 0)) assert.match(r.stderr, /busy|hung up|caller has gone|caller gave up|did not answer within/i, r.stderr);
    await new Promise((r) => setTimeout(r, 1_000));
    const ok = pods.filter((_, i) => rs[i]!.code === 0).map((p) => p.ns).sort();
    observed['served 500 pods up: done'] = ok.length;
    assert.deepEqual((await markers(e)).map(([ns]) => ns).sort(), ok, 'a namespace and a reference exactly for each call that succeeded');
    assert.deepEqual(await namespaces(e), ok);
  });

  after(() => {
    if (process.env.LSMNS_TEST_REPORT) console.log(JSON.stringify(observed));
  });
});
