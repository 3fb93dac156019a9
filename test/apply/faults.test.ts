import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyPlan, type ApplyContext, type ApplyStage } from '../../src/apply/executor.js';
import { LsmnsError } from '../../src/errors.js';
import type { KernelPort } from '../../src/kernel/port.js';
import { faultyPort, type Fault } from './fault-port.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { SimRuntime } from '../../src/kernel/sim/runtime.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM } from '../../src/kernel/facts.js';
import { planInputs } from '../../src/run/plan.js';
import { FilePolicyStore, policyPath, type PolicySource } from '../../src/policy/store.js';
import type { Plan, Step } from '../../src/plan/types.js';
import { PLANS_DIR, caseArgs, caseFacts, caseNames } from '../plan/golden-cases.js';
import { tempDir } from '../kernel/sim/helpers.js';

// Fault injection through the kernel port (issue 16): for every step of every golden plan that is ready to
// apply, and every errno, the step's kernel call fails (before its effect, or for a policy load after the
// kernel took the write, as a partial write would). The run must fail with exit 4 naming the step, and the sim
// must be as it was before the run: byte for byte but for the counters that only go up (COUNTERS), which a
// kernel never winds back either. A namespace that someone else made before the run is never removed.

export const ERRNOS = ['EIO', 'EACCES', 'ENOSPC', 'EEXIST', 'ENOENT', 'EBUSY'] as const;

/** The port call that carries each step's effect. */
const OP_OF: Partial<Record<Step['kind'], keyof KernelPort>> = {
  checkNode: 'probe', createNamespace: 'createNamespace', loadPolicy: 'loadPolicy', transitionRootTask: 'spawnTask', removeNamespace: 'removeNamespace',
};

/** Counters that only go up, in a kernel as in the sim: ids, load order, and the sim file's revision. */
export const COUNTERS = ['nextNsId', 'nextPid', 'nextSeq', 'revision'];

const normal = (text: string) => {
  const s = JSON.parse(text) as Record<string, unknown>;
  for (const k of COUNTERS) delete s[k];
  return JSON.stringify(s);
};

/** The host profiles a plan's labels name (bounded-host-profile), loaded in the root namespace as a node has them. */
async function loadHostProfiles(e: Env, plan: Plan): Promise<void> {
  const hosts = [...new Set(plan.steps.flatMap((s) => (s.kind === 'transitionRootTask' && s.args.role === 'app' && s.args.hostProfile ? [s.args.hostProfile] : [])))];
  if (hosts.length) await e.sim.loadPolicy('', { ref: 'host', path: 'host.aa', text: hosts.map(PROFILE).join(''), digest: 'sha256:host' } as PolicySource);
}

const PROFILE = (name: string) => `profile ${name} flags=(attach_disconnected) {\n  /** mrwlkix,\n}\n`;

async function readyPlans(name: string): Promise<Plan[]> {
  const plans = await planInputs({ pod: join(PLANS_DIR, name, 'pod.yaml'), readStdin: async () => '' }, caseFacts(name), { delivery: caseArgs(name).delivery ?? 'shim' });
  return plans.filter((p) => p.outcome === 'ready');
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
  for (const s of plan.steps) {
    if (s.kind !== 'loadPolicy') continue;
    const f = policyPath(s.args, policyDir);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, s.args.profiles.map(PROFILE).join(''));
  }
  const stateDir = join(dir, 'state');
  return { dir, sim, ctx: { runtime: new SimRuntime(sim, stateDir), policies: new FilePolicyStore(policyDir), stateDir, actors: ['hook', 'shim', 'webhook', 'kernel'] } };
}

/** Every (case, stage, step) with a kernel call: what the table in docs/reliability.md counts. */
export async function faultSites(): Promise<{ name: string; plan: Plan; stage: ApplyStage; step: Step; op: keyof KernelPort; nth: number }[]> {
  const out = [];
  for (const name of caseNames()) {
    for (const plan of await readyPlans(name)) {
      const seen = new Map<string, number>();
      for (const step of plan.steps) {
        const op = OP_OF[step.kind];
        if (!op || step.status !== 'planned') continue;
        if (step.kind === 'transitionRootTask' && (step.realizedBy === 'webhook' || step.args.role !== 'app')) continue;
        const nth = (seen.get(op) ?? 0) + 1;
        seen.set(op, nth);
        out.push({ name, plan, stage: (step.stage === 'poststop' ? 'poststop' : 'create') as ApplyStage, step, op, nth });
      }
    }
  }
  return out;
}

describe('apply/faults: every step of every golden plan, every errno', function () {
  this.timeout(300_000);
  it('fails with exit 4 naming the step, and leaves the kernel as it was', async () => {
    const sites = await faultSites();
    assert.ok(sites.length >= 30, `${sites.length} fault sites`);
    let runs = 0;
    for (const site of sites) {
      const whens: Fault['when'][] = site.op === 'loadPolicy' ? ['before', 'after'] : ['before'];
      for (const errno of ERRNOS) {
        for (const when of whens) {
          const e = env(site.name, site.plan);
          await e.sim.createNamespace('foreign');
          await loadHostProfiles(e, site.plan);
          const refs = ['ctr-1'];
          if (site.stage === 'poststop') await applyPlan(site.plan, { ...e.ctx, port: e.sim, stage: 'create', refs });
          const before = readFileSync(join(e.dir, 'sim.json'), 'utf8');
          const port = faultyPort(e.sim, { op: site.op, nth: site.nth, errno, when });
          const what = `${site.name} step ${site.step.id} ${site.step.kind} ${errno} ${when}`;
          await assert.rejects(applyPlan(site.plan, { ...e.ctx, port, runtime: new SimRuntime(port, e.ctx.stateDir), stage: site.stage, refs }), (err: unknown) => {
            assert.ok(err instanceof LsmnsError, `${what}: ${String((err as Error)?.stack ?? err)}`);
            assert.equal(err.exitCode, 4, `${what}: ${err.message}`);
            assert.match(err.message, new RegExp(`^step ${site.step.id} ${site.step.kind}\\b`), what);
            assert.doesNotMatch(err.message, /could NOT undo/, what);
            return true;
          }, what);
          assert.equal(normal(readFileSync(join(e.dir, 'sim.json'), 'utf8')), normal(before), `${what}: the sim is as it was`);
          assert.ok((await e.sim.listNamespaces()).includes('foreign'), what);
          // And the node works afterwards: the same run without a fault succeeds.
          await applyPlan(site.plan, { ...e.ctx, port: e.sim, stage: site.stage, refs });
          runs++;
        }
      }
    }
    assert.ok(runs >= 200, `${runs} runs`);
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
