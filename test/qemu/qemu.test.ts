// make test-qemu: the securityfs backend on Debian's AppArmor kernels (6.1 and 6.12) under qemu TCG. One boot per
// kernel runs everything (guest/run.ts): the fidelity scenarios, the guest checks, and runc/crun containers with
// lsmns hook and lsmns runtime; these tests only judge its results. The fidelity scenarios must observe
// exactly what the sim observes for the same boot parameters. LSMNS_CAPTURE_FIDELITY=1 also stores each run as
// the capture that make test-unit checks the sim against (test/fixtures/fidelity/<release>.json).

import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareRuns, SCENARIOS, type ScenarioResult } from '../kernel/fidelity/scenarios.js';
import { FIXTURES, simRunFor } from '../kernel/fidelity/sim-run.js';
import type { ContainerResult } from './guest/containers.js';
import { criAvailable } from '../cri/lab.js';
import { mediationCases, medLabel, simMediation } from '../kernel/sim/mediation-cases.js';
import { bootOnce, installedKernel, KUBE_KERNEL, type GuestDoc, type GuestRun } from './harness.js';
import { AFTER_MKDIR_FAULTS, AFTER_MKDIR_KILLS } from './guest/reliability.js';
import { FOREIGN } from './guest/faults.js';
import { ERRNOS, failureProblems, faultRuns, type Failure } from '../apply/fault-table.js';

const pick = (r: ContainerResult) => ({ status: r.status, label: r.label, secret: r.secret, outerSecret: r.outerSecret, public: r.public, namespacesDuring: r.namespacesDuring, labelsDuring: r.labelsDuring, namespacesAfter: r.namespacesAfter });

const KERNELS = [
  { label: '6.1 (linux-image-amd64)', match: /^6\.1\.\d+-\d+-amd64$/, lsmSyscalls: false },
  { label: '6.12 (linux-image-6.12-amd64, bookworm-security)', match: /^6\.12\.\d+\+deb12-amd64$/, lsmSyscalls: true },
];

for (const k of KERNELS) {
  describe(`real kernel ${k.label} in qemu`, function () {
    let run: GuestRun;
    let doc: GuestDoc;
    let sim: Record<string, ScenarioResult>;

    before(async function () {
      this.timeout(1_000_000);
      const kver = installedKernel(k.match);
      assert.ok(kver, `no installed kernel matches ${k.match} (scripts/deps.sh installs it)`);
      const only = process.env.LSMNS_GUEST_ONLY?.split(',');
      run = await bootOnce(kver, { kube: KUBE_KERNEL.test(kver) && criAvailable() === null && (!only || only.includes('kube')) });
      assert.equal(run.rc, '0', `guest run failed (rc ${run.rc || 'none'}):\n${run.output}\n${run.console.slice(-2000)}`);
      doc = run.doc!;
      sim = await simRunFor(doc.facts);
      const c = compareRuns(doc.scenarios, sim);
      process.stdout.write(`\n    [${kver}] guest: boot wall ${(run.wallMs / 1000).toFixed(1)} s, node up at ${doc.timing.nodeStartedAtUptimeS} s, scenarios ${doc.timing.scenariosMs} ms, power-off at ~${doc.timing.finishedAtUptimeS} s uptime; fidelity ${c.agreed}/${c.total} observations agree (${((100 * c.agreed) / c.total).toFixed(1)} %)\n`);
      if (process.env.LSMNS_CAPTURE_FIDELITY === '1') copyFileSync(join(run.share, 'results.json'), join(FIXTURES, `${kver}.json`));
    });

    it('probes AppArmor with policy namespaces, stacking and policy admin, and no display interface (mainline)', () => {
      const f = doc.facts;
      assert.ok(f.lsms.includes('apparmor'), f.lsms.join(','));
      assert.deepEqual([f.apparmor.enabled, f.apparmor.policyNamespaces, f.apparmor.stacking, f.apparmor.policyAdmin], [true, true, true, true]);
      assert.deepEqual([f.apparmor.nsLevel, f.apparmor.nsName, f.apparmor.nsStacked, f.apparmor.domainVersion], [0, 'root', false, '1.2']);
      assert.deepEqual(f.attr, { apparmorDir: true, display: null, sharedLsm: 'apparmor' });
    });

    it(`probes the LSM syscalls (459-461) as ${k.lsmSyscalls ? 'present' : 'absent'}`, () => {
      assert.equal(doc.facts.syscalls.lsmSelfAttr, k.lsmSyscalls, JSON.stringify(doc.syscallProbe));
      assert.equal(doc.syscallProbe.ran, true, doc.syscallProbe.note);
      if (k.lsmSyscalls) assert.ok(doc.syscallProbe.listModules?.ids?.includes(104), JSON.stringify(doc.syscallProbe));
      else assert.equal(doc.syscallProbe.listModules?.errno, 'ENOSYS');
    });

    for (const s of SCENARIOS) {
      it(`fidelity: ${s.name} observes the same on the kernel and the sim`, () => {
        assert.equal(doc.scenarios[s.name]?.error, undefined, `harness error on the kernel: ${doc.scenarios[s.name]?.error}`);
        const c = compareRuns({ [s.name]: doc.scenarios[s.name]! }, { [s.name]: sim[s.name]! });
        assert.deepEqual(c.disagreements, []);
        assert.ok(c.total > 3, 'the scenario observed too little');
      });
    }

    it('loads from the compile cache on a warm load, without running apparmor_parser', () => {
      const c = doc.checks['compile-cache'] as { cold: { cached: boolean; compileMs: number; loadMs: number }; warm: { cached: boolean; loadMs: number }; listing: string[]; error?: string };
      assert.equal(c.error, undefined, c.error);
      assert.equal(c.cold.cached, false);
      assert.equal(c.warm.cached, true);
      assert.ok(c.warm.loadMs * 3 < c.cold.loadMs, `warm ${c.warm.loadMs} ms vs cold ${c.cold.loadMs} ms`);
      assert.deepEqual(c.listing, [':cc:p (enforce)']);
    });

    it('transitions itself from the main thread (the shim path); the same write from a libuv worker is refused', () => {
      const c = doc.checks['self-transition'] as Record<string, unknown>;
      assert.deepEqual({ status: c.status, mainThread: c.mainThread, childLabel: c.childLabel, ownLabel: c.ownLabel, asyncWorker: c.asyncWorker },
        { status: 0, mainThread: 'ok', childLabel: 'p (enforce)', ownLabel: 'unconfined', asyncWorker: 'EACCES' }, String(c.stderr ?? c.error));
    });

    it('mediation: lsmns sim check decides every generated (profile pair, path, permission) case as the kernel does', async () => {
      const c = doc.checks.mediation as { loadErrors: string[]; results: { status: number; allowed: boolean; err: string }[]; ms: number; error?: string };
      assert.equal(c.error, undefined, c.error);
      assert.deepEqual(c.loadErrors, []);
      assert.deepEqual(c.results.filter((r) => r.status === 3 || r.status === null), [], 'every task got its label');
      const { cases, pairs } = mediationCases();
      const simAnswers = await simMediation();
      const off = cases.map((x, i) => ({ ...x, label: medLabel(pairs[x.pair]!), kernel: c.results[i]!.allowed, sim: simAnswers[i] })).filter((x) => x.kernel !== x.sim);
      process.stdout.write(`\n    [${run.kver}] mediation: ${cases.length - off.length}/${cases.length} cases agree (${c.ms} ms in the guest)\n`);
      assert.ok(cases.length >= 300);
      assert.deepEqual(off, []);
    });

    it('lsmns probe --backend securityfs --output json prints the same facts', () => {
      const c = doc.checks['probe-command'] as { status: number; output: Record<string, unknown> & { probe: { backend: string } }; stderr: string };
      assert.equal(c.status, 0, c.stderr);
      const { probe, ...facts } = c.output;
      assert.equal(probe.backend, 'securityfs');
      assert.deepEqual(facts, doc.facts);
    });

    for (const rt of ['runc', 'crun']) {
      const c = (name: string) => {
        const all = doc.checks.containers as Record<string, ContainerResult & { profilesUnchanged?: boolean; namespacesBefore?: string[] }> & { error?: string };
        assert.equal(all.error, undefined, String(all.error));
        return all[`${rt}-${name}`]!;
      };
      it(`${rt} with lsmns hooks and apparmorProfile &:tenant-a:p: confined, tenant denial enforced, namespace gone after exit`, () => {
        const r = c('hook');
        assert.deepEqual(pick(r), { status: 0, label: 'p (enforce)', secret: 'denied', outerSecret: 'readable', public: 'readable', namespacesDuring: ['tenant-a'], labelsDuring: ['unconfined//&:tenant-a:p (enforce)'], namespacesAfter: [] }, r.output);
      });
      it(`${rt} through lsmns runtime (no hooks, no apparmorProfile in the config) is confined the same way`, () => {
        const r = c('runtime');
        assert.deepEqual(pick(r), { status: 0, label: 'p (enforce)', secret: 'denied', outerSecret: 'readable', public: 'readable', namespacesDuring: ['tenant-a'], labelsDuring: ['unconfined//&:tenant-a:p (enforce)'], namespacesAfter: [] }, r.output);
      });
      it(`${rt} under host profile outer: outer//&:tenant-a:p enforces both layers' denials`, () => {
        const r = c('host-stacked');
        assert.deepEqual(pick(r), { status: 0, label: 'p (enforce)', secret: 'denied', outerSecret: 'denied', public: 'readable', namespacesDuring: ['tenant-a'], labelsDuring: ['outer//&:tenant-a:p (enforce)'], namespacesAfter: [] }, r.output);
      });
      it(`${rt}: a hostile annotation stops the start, and policy/namespaces and the profiles are unchanged`, () => {
        const r = c('hostile');
        assert.notEqual(r.status, 0);
        assert.equal(r.label, null, 'the container must not have run');
        if (rt === 'runc') assert.match(r.output, /lsmns\.io\/apparmor-profile=.*must not contain '\/\/'/);
        assert.deepEqual([r.namespacesDuring, r.namespacesAfter, r.profilesUnchanged], [[], r.namespacesBefore, true]);
      });
    }

    it('no silent sim: with no node configuration and no LSMNS_BACKEND, the shim and a hook refuse (exit 3) and securityfs is unchanged', () => {
      const all = doc.checks.containers as Record<string, { unconfigured: Record<string, unknown> }>;
      const u = all['node-install']!.unconfigured;
      assert.equal(u.shimStatus, 3, String(u.shimOutput));
      assert.match(String(u.shimOutput), /AppArmor enabled, but there is no node configuration \(\/etc\/lsmns\/node\.conf/);
      assert.notEqual(u.hookStatus, 0, String(u.hookOutput));
      assert.match(String(u.hookOutput), /no node configuration/);
      assert.deepEqual([u.shimLabel, u.hookLabel, u.unchanged, u.simCreated], [null, null, true, false], 'no container ran, nothing changed, no sim');
    });

    it('a node laid out by lsmns install (securityfs picked, no LSMNS_* variable): the installed front runs the container confined', () => {
      const all = doc.checks.containers as Record<string, { installed: Record<string, unknown> }>;
      const r = all['node-install']!.installed;
      assert.equal(r.installStatus, 0, String(r.installOutput));
      assert.match(String(r.conf), /^LSMNS_BACKEND=securityfs$/m);
      assert.deepEqual([r.status, r.label, r.secret, r.namespacesDuring, r.labelsDuring, r.namespacesAfter], [0, 'p (enforce)', 'denied', ['tenant-a'], ['unconfined//&:tenant-a:p (enforce)'], []], String(r.output));
    });

    it('reliability: a fault after the real mkdir (a policy load refused or cut short, the listing failed) leaves no namespace and no marker; the same container then works', () => {
      const c = doc.checks.reliability as { error?: string; faults: { name: string; seenDuring: boolean; error: { exitCode: number; message: string } | null; before: unknown; after: unknown; retry: string; markersEnd: string[] }[] };
      assert.equal(c.error, undefined, c.error);
      assert.deepEqual(c.faults.map((f) => f.name), AFTER_MKDIR_FAULTS.map((f) => f.name));
      for (const f of c.faults) {
        assert.equal(f.seenDuring, true, `${f.name}: the namespace was in securityfs when the fault hit`);
        assert.equal(f.error?.exitCode, 4, `${f.name}: ${JSON.stringify(f.error)}`);
        assert.match(f.error!.message, /^step \d+ loadPolicy\b/, f.name);
        assert.deepEqual(f.after, f.before, `${f.name}: policy/namespaces and the markers are as before`);
        assert.deepEqual([f.retry, f.markersEnd], ['ok', []], f.name);
      }
    });

    it('reliability: hooks SIGKILLed after the mkdir, then lsmns gc removes exactly the namespaces the journal proves lsmns made', () => {
      type Report = { removed: { namespace: string }[]; unproven: { namespace: string }[]; failed: unknown[] };
      const c = doc.checks.reliability as { error?: string; kills: { point: string; ns: string; signal: string | null; left: boolean }[]; beforeGc: string[]; afterGc: { namespaces: string[]; markers: string[] }; live: { status: number; stderr: string; stopStatus: number }; gc: { status: number; report: Report; stderr: string }; secondGc: { report: Report }; end: { namespaces: string[]; markers: string[] } };
      assert.equal(c.error, undefined, c.error);
      assert.equal(c.live.status, 0, c.live.stderr);
      assert.deepEqual(c.kills.map((x) => [x.point, x.signal, x.left]), AFTER_MKDIR_KILLS.map((p) => [p, 'SIGKILL', true]), 'each hook died after its mkdir');
      assert.equal(c.gc.status, 0, c.gc.stderr);
      const proven = ['rel-k-marker-ready', 'rel-k-policy-load', 'rel-k-policy-marker'];
      assert.deepEqual(c.gc.report.removed.map((x) => x.namespace).sort(), proven);
      assert.deepEqual([c.gc.report.unproven.map((x) => x.namespace), c.gc.report.failed], [['rel-k-mkdir'], []], 'killed right after the mkdir: reported, left');
      assert.deepEqual(c.afterGc.namespaces, c.beforeGc.filter((n) => !proven.includes(n)), 'only those went');
      assert.ok(['rel-foreign', 'rel-live', 'rel-k-mkdir'].every((n) => c.afterGc.namespaces.includes(n)), 'the unmarked, the held and the unproven namespaces stay');
      assert.deepEqual(c.afterGc.markers, ['rel-live.json'], 'only the live container\'s marker is left');
      assert.deepEqual([c.secondGc.report.removed, c.secondGc.report.unproven], [[], []], 'a second GC changes nothing');
      assert.equal(c.live.stopStatus, 0);
      assert.deepEqual([c.end.namespaces.filter((n) => n.startsWith('rel-')), c.end.markers], [[], []]);
    });

    it('faults: every step of every golden plan × every errno on securityfs exits 4 naming the step, and leaves the listing and the markers as they were', async () => {
      const c = doc.checks.faults as { error?: string; sites: number; hostLoad: { status: number; stderr: string } | null; ms: number; results: { what: string; setup: Failure | null; failure: Failure | null; nsAtFault: boolean | null; foreign: boolean; retry: Failure | null; unchanged: boolean; markersUnchanged: boolean; clean: boolean }[] };
      assert.equal(c.error, undefined, c.error);
      assert.equal(c.hostLoad?.status ?? 0, 0, c.hostLoad?.stderr);
      const runs = await faultRuns();
      assert.deepEqual(c.results.map((r) => r.what), runs.map((r) => r.what), 'the guest ran the table the host knows');
      process.stdout.write(`\n    [${run.kver}] faults: ${c.results.length} runs, ${c.sites} steps × ${ERRNOS.length} errnos (and each policy load also after the kernel took it), ${c.ms} ms in the guest\n`);
      const bad = c.results.flatMap((r, i) => {
        const p = [...failureProblems(runs[i]!, r.failure)];
        if (r.setup) p.push(`its create failed first: ${r.setup.message}`);
        // From the policy load on, the fault comes after the real mkdir: the namespace is there when it hits.
        const afterMkdir = !['checkNode', 'createNamespace'].includes(runs[i]!.step.kind);
        if (r.nsAtFault !== afterMkdir) p.push(`the namespace was ${r.nsAtFault === null ? 'never faulted' : r.nsAtFault ? 'there' : 'not there'} at the faulty call`);
        if (!r.unchanged) p.push('securityfs listing changed');
        if (!r.markersUnchanged) p.push('ownership markers changed');
        if (!r.foreign) p.push(`${FOREIGN} was removed`);
        if (r.retry) p.push(`the run without the fault failed: ${r.retry.message}`);
        if (!r.clean) p.push('securityfs not as at the start after the run and its poststop');
        return p.length ? [`${r.what}: ${p.join('; ')}${r.failure ? ` (${r.failure.message})` : ''}`] : [];
      });
      assert.deepEqual(bad, []);
      assert.ok(c.results.length >= 200, `${c.results.length} runs`);
    });

    it('leaves no task behind', () => {
      assert.deepEqual(doc.leftover, []);
    });
  });
}
