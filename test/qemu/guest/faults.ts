// Issue 16's fault table (test/apply/fault-table.ts) on a real AppArmor kernel: every step with a kernel call, of
// every golden plan that is ready to apply, × every errno, through faultyPort around the SecurityfsKernel in
// process. Each run records how it failed, securityfs's listing before and after it (the namespaces under
// policy/namespaces, recursively, with their profiles, and the kernel's profiles file), the ownership markers,
// and whether an unmarked namespace that someone else made survived. Then the same run without the fault (and
// its poststop) must work and leave securityfs as it was at the start. Returns data; qemu.test.ts judges it.
// The whole table runs in CI: 294 runs take about 64 s in the guest under TCG, on 6.1 as on 6.12.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlan, type ApplyContext } from '../../../src/apply/executor.js';
import { OciRuntime } from '../../../src/kernel/securityfs/runtime.js';
import type { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import type { KernelPort } from '../../../src/kernel/port.js';
import { FilePolicyStore } from '../../../src/policy/store.js';
import type { Plan } from '../../../src/plan/types.js';
import { refsOf } from '../../../src/run/apply.js';
import { faultyPort } from '../../apply/fault-port.js';
import { ACTORS, PROFILE, containersExit, failureOf, markers, faultRuns, hostProfilesOf, writePolicies } from '../../apply/fault-table.js';

/** An unmarked namespace made before the runs: lsmns must never remove it. */
export const FOREIGN = 'faults-foreign';

/** Namespaces recursively, each with its profiles, then the kernel's own profiles file (which names them all). */
async function listing(k: KernelPort & { profilesListing(): Promise<string[]> }): Promise<string> {
  const walk = async (parent: string): Promise<unknown[]> => {
    const out: unknown[] = [];
    for (const n of await k.listNamespaces(parent)) {
      const ns = parent ? `${parent}//${n}` : n;
      out.push({ ns, profiles: await k.listProfiles(ns), children: await walk(ns) });
    }
    return out;
  };
  return JSON.stringify({ namespaces: await walk(''), profiles: await k.profilesListing() });
}

export async function faultsCheck(k: SecurityfsKernel): Promise<Record<string, unknown>> {
  const runs = await faultRuns();
  const dir = mkdtempSync('/tmp/lsmns-faults-');
  // The host profiles the plans' labels name, in the root namespace, with apparmor_parser as a node loads them.
  const hosts = [...new Set(runs.flatMap((r) => hostProfilesOf(r.plan)))];
  const hostFile = join(dir, 'host-profiles');
  writeFileSync(hostFile, hosts.map(PROFILE).join(''));
  const hostLoad = hosts.length ? spawnSync('apparmor_parser', ['-r', '-K', hostFile], { encoding: 'utf8' }) : null;
  await k.createNamespace(FOREIGN);
  const start = await listing(k);
  const policyDirs = new Map<Plan, string>();
  const results: Record<string, unknown>[] = [];
  let n = 0;
  for (const run of runs) {
    let policyDir = policyDirs.get(run.plan);
    if (!policyDir) {
      policyDir = join(dir, `policies-${policyDirs.size}`);
      writePolicies(run.plan, policyDir);
      policyDirs.set(run.plan, policyDir);
    }
    const stateDir = join(dir, `state-${n++}`);
    const ctx: Omit<ApplyContext, 'stage'> = { port: k, runtime: new OciRuntime(k, stateDir), policies: new FilePolicyStore(policyDir), stateDir, actors: ACTORS, refs: refsOf(run.plan) };
    const t0 = performance.now();
    const setup = run.stage === 'poststop' ? await failureOf(applyPlan(run.plan, { ...ctx, stage: 'create' }).then(() => containersExit(run.plan, ctx.runtime, ctx.refs))) : null;
    const before = { listing: await listing(k), markers: markers(stateDir) };
    const port = faultyPort(k, run.fault);
    // Whether the plan's namespace was in securityfs when the faulty call was made (null: it was never made).
    let nsAtFault: boolean | null = null;
    let calls = 0;
    const faulty = (port[run.fault.op] as (...a: unknown[]) => Promise<unknown>).bind(port);
    (port as unknown as Record<string, unknown>)[run.fault.op] = async (...a: unknown[]) => {
      if (++calls === run.fault.nth) nsAtFault = await k.namespaceExists(run.plan.namespace!.name);
      return faulty(...a);
    };
    const failure = await failureOf(applyPlan(run.plan, { ...ctx, port, runtime: new OciRuntime(port, stateDir), stage: run.stage }));
    const after = { listing: await listing(k), markers: markers(stateDir) };
    const foreign = (await k.listNamespaces()).includes(FOREIGN);
    // The node works afterwards: the same run without the fault, then (for a create) its poststop.
    const retry = await failureOf((async () => {
      await applyPlan(run.plan, { ...ctx, stage: run.stage });
      if (run.stage === 'create') await applyPlan(run.plan, { ...ctx, stage: 'poststop' });
    })());
    const end = await listing(k);
    results.push({
      what: run.what, setup, failure, nsAtFault, foreign, retry,
      unchanged: before.listing === after.listing, markersUnchanged: JSON.stringify(before.markers) === JSON.stringify(after.markers),
      markersAfter: Object.keys(after.markers), clean: end === start, ms: Math.round(performance.now() - t0),
      ...(before.listing === after.listing ? {} : { before: before.listing, after: after.listing }),
      ...(end === start ? {} : { end }),
    });
  }
  await k.removeNamespace(FOREIGN);
  if (hosts.length) spawnSync('apparmor_parser', ['-R', hostFile]);
  const sites = new Set(runs.map((r) => `${r.name}/${r.plan.input.podKey}/${r.step.id}`)).size;
  return { sites, hostLoad: hostLoad && { status: hostLoad.status, stderr: hostLoad.stderr.trim() }, results };
}
