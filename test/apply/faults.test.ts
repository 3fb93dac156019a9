import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan, type ApplyContext } from '../../src/apply/executor.js';
import type { LsmnsError } from '../../src/errors.js';
import { faultyPort } from './fault-port.js';
import { ACTORS, PROFILE, containersExit, failureOf, failureProblems, faultRuns, hostProfilesOf, markers, readyPlans, writePolicies, type FaultRun } from './fault-table.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM } from '../../src/kernel/facts.js';
import { FilePolicyStore, type PolicySource } from '../../src/policy/store.js';
import type { Plan } from '../../src/plan/types.js';
import { refsOf } from '../../src/run/apply.js';
import { caseArgs, caseNames } from '../plan/golden-cases.js';
import { tempDir } from '../kernel/sim/helpers.js';

// Fault injection through the kernel port (issue 16), the table of fault-table.ts on the sim: the run must fail
// with exit 4 naming the step, and the sim must be as it was before the run: byte for byte but for the counters
// that only go up (COUNTERS), which a kernel never winds back either. A namespace that someone else made before
// the run is never removed, and the ownership markers are as they were. test/qemu/guest/faults.ts runs the same
// table on securityfs.

/** Counters that only go up, in a kernel as in the sim: ids, load order, and the sim file's revision. */
export const COUNTERS = ['nextNsId', 'nextPid', 'nextSeq', 'revision'];

const normal = (text: string) => {
  const s = JSON.parse(text) as Record<string, unknown>;
  for (const k of COUNTERS) delete s[k];
  return JSON.stringify(s);
};

/** The host profiles a plan's labels name, loaded in the root namespace as a node has them. */
async function loadHostProfiles(e: Env, plan: Plan): Promise<void> {
  const hosts = hostProfilesOf(plan);
  if (hosts.length) await e.sim.loadPolicy('', { ref: 'host', path: 'host.aa', text: hosts.map(PROFILE).join(''), digest: 'sha256:host' } as PolicySource);
}

interface Env {
  dir: string;
  sim: SimKernel;
  ctx: Omit<ApplyContext, 'port' | 'stage' | 'refs'>;
}

function env(name: string, plan: Plan): Env {
  const dir = tempDir('lsmns-faults-');
  const a = caseArgs(name);
  const sim = new SimKernel({ path: join(dir, 'sim.json'), boot: { lsm: a.lsm ?? DEFAULT_SIM_LSM, kernel: a.kernel ?? DEFAULT_SIM_KERNEL, ...(a.attrDisplay ? { display: a.attrDisplay } : {}) } });
  const policyDir = join(dir, 'policies');
  writePolicies(plan, policyDir);
  const stateDir = join(dir, 'state');
  return { dir, sim, ctx: { runtime: new SimRuntime(sim, stateDir), policies: new FilePolicyStore(policyDir), stateDir, actors: ACTORS } };
}

describe('apply/faults: every step of every golden plan, every errno', function () {
  this.timeout(300_000);
  it('fails with exit 4 naming the step, and leaves the kernel as it was', async () => {
    const runs: FaultRun[] = await faultRuns();
    assert.ok(new Set(runs.map((r) => `${r.name}/${r.plan.input.podKey}/${r.step.id}`)).size >= 30, 'fault sites');
    assert.ok(runs.length >= 200, `${runs.length} runs`);
    for (const run of runs) {
      const e = env(run.name, run.plan);
      await e.sim.createNamespace('foreign');
      await loadHostProfiles(e, run.plan);
      const refs = refsOf(run.plan);
      if (run.stage === 'poststop') {
        await applyPlan(run.plan, { ...e.ctx, port: e.sim, stage: 'create', refs });
        await containersExit(run.plan, e.ctx.runtime, refs);
      }
      const before = readFileSync(join(e.dir, 'sim.json'), 'utf8');
      const marked = markers(e.ctx.stateDir);
      const port = faultyPort(e.sim, run.fault);
      const failure = await failureOf(applyPlan(run.plan, { ...e.ctx, port, runtime: new SimRuntime(port, e.ctx.stateDir), stage: run.stage, refs }));
      assert.deepEqual(failureProblems(run, failure), [], `${run.what}: ${failure?.message}`);
      assert.equal(normal(readFileSync(join(e.dir, 'sim.json'), 'utf8')), normal(before), `${run.what}: the sim is as it was`);
      assert.deepEqual(markers(e.ctx.stateDir), marked, `${run.what}: the ownership markers are as they were`);
      assert.ok((await e.sim.listNamespaces()).includes('foreign'), run.what);
      // And the node works afterwards: the same run without a fault succeeds.
      await applyPlan(run.plan, { ...e.ctx, port: e.sim, stage: run.stage, refs });
    }
  });

  it('a namespace of the plan\'s name that someone else made is refused before any effect, and survives every fault', async () => {
    for (const name of caseNames()) {
      for (const plan of await readyPlans(name)) {
        const e = env(name, plan);
        await e.sim.createNamespace(plan.namespace!.name);
        const before = readFileSync(join(e.dir, 'sim.json'), 'utf8');
        await assert.rejects(applyPlan(plan, { ...e.ctx, port: e.sim, stage: 'create', refs: ['c'] }), (err: LsmnsError) => err.code === 'NamespaceNotOwned' && err.exitCode === 4);
        const r = await applyPlan(plan, { ...e.ctx, port: e.sim, stage: 'poststop', refs: ['c'] });
        assert.ok(r.results.some((x) => x.outcome === 'not-mine'), name);
        assert.equal(readFileSync(join(e.dir, 'sim.json'), 'utf8'), before, name);
      }
    }
  });
});
