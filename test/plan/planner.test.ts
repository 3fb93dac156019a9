import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { simulatedFacts, type NodeFacts } from '../../src/kernel/facts.js';
import { parseOciConfig, type OciConfig } from '../../src/oci/spec.js';
import { computeLabel } from '../../src/plan/label.js';
import { deriveNamespaceName, displayDecision, plan } from '../../src/plan/planner.js';
import { hostBoundOf, requestFromPod, type PlanRequest } from '../../src/plan/request.js';
import { requestFromBundle } from '../../src/oci/request.js';
import { checkPod } from '../../src/schema/pod.js';

const FIX = (p: string) => fileURLToPath(new URL(`../../../test/fixtures/${p}`, import.meta.url));
const FACTS = simulatedFacts({ lsm: 'lockdown,capability,landlock,yama,apparmor,bpf', kernel: '6.1.0-56-amd64' });

/** A real containerd 1.6 capture, with the lab's own annotation replaced by lsmns keys and the profile containerd set. */
function capture(kind: 'app' | 'sandbox', ann: Record<string, string>, profile?: string): OciConfig {
  const c = parseOciConfig(readFileSync(FIX(`cri/containerd-1.6-${kind}.config.json`), 'utf8'), kind);
  const a = { ...c.annotations };
  delete a['lsmns.io/label'];
  delete a['lsmns.io/apparmor-namespace'];
  return { ...c, annotations: { ...a, ...ann }, process: { ...c.process, apparmorProfile: profile } };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const LAB = { 'lsmns.io/apparmor-namespace': 'tenantns', 'lsmns.io/apparmor-profile': 'lab-profile', 'lsmns.io/apparmor-policy': 'lab' };

describe('plan/planner', () => {
  describe('computeLabel', () => {
    const cases = [
      { name: 'bounded without a host profile', i: { namespace: 'ns', profile: 'p', stacking: 'bounded' as const, hostProfile: null }, want: '&:ns:p' },
      { name: 'bounded with a host profile', i: { namespace: 'ns', profile: 'p', stacking: 'bounded' as const, hostProfile: 'HOST' }, want: 'HOST//&:ns:p' },
      { name: 'none', i: { namespace: 'ns', profile: 'p', stacking: 'none' as const, hostProfile: null }, want: ':ns:p' },
    ];
    for (const tc of cases) it(tc.name, () => assert.equal(computeLabel(tc.i), tc.want));
  });

  it('is pure: the same frozen input gives the same plan twice', () => {
    const pod = checkPod({ metadata: { name: 'a', namespace: 'n', uid: 'u-1', annotations: LAB }, spec: { containers: [{ name: 'c' }] } }, 'x').pod!;
    const req = deepFreeze(requestFromPod(pod, 'x', {}));
    const facts = deepFreeze(structuredClone(FACTS));
    assert.deepEqual(plan(req, facts), plan(req, facts));
  });

  describe('from real containerd captures', () => {
    it('an app container keeps the runtime default as its host bound', () => {
      const req = requestFromBundle(capture('app', LAB, 'cri-containerd.apparmor.d'), { kind: 'bundle', ref: 'b' }, null, {});
      assert.deepEqual(req.pod, { name: 't-lsmns-2', namespace: 'lab-ns', uid: 'uid-2572-1795439148737' });
      const p = plan(req, FACTS);
      assert.equal(p.outcome, 'ready');
      assert.equal(p.input.podKey, 'uid:uid-2572-1795439148737');
      assert.equal(p.containers[0]!.label, 'cri-containerd.apparmor.d//&:tenantns:lab-profile');
      const load = p.steps.find((s) => s.kind === 'loadPolicy')!;
      assert.deepEqual(load.kind === 'loadPolicy' && { policy: load.args.policy, scope: load.args.scope, podNamespace: load.args.podNamespace }, { policy: 'lab', scope: 'pod-namespace', podNamespace: 'lab-ns' });
    });
    it('the sandbox is not moved, but the plan still holds the namespace for it', () => {
      const p = plan(requestFromBundle(capture('sandbox', LAB), { kind: 'bundle', ref: 'b' }, null, {}), FACTS);
      const t = p.steps.find((s) => s.kind === 'transitionRootTask')!;
      assert.equal(t.status, 'skipped');
      assert.match(t.reason, /sandbox keeps the profile/);
      assert.deepEqual(p.steps.map((s) => s.kind), ['checkNode', 'createNamespace', 'loadPolicy', 'setDisplayLsm', 'transitionRootTask', 'removeNamespace']);
    });
    it('the lab wrapper\'s own lsmns.io/label key is refused as unknown', () => {
      const c = parseOciConfig(readFileSync(FIX('cri/containerd-1.6-app.config.json'), 'utf8'), 'app');
      const p = plan(requestFromBundle(c, { kind: 'bundle', ref: 'b' }, null, {}), FACTS);
      assert.equal(p.outcome, 'invalid');
      assert.deepEqual(p.problems.map((x) => x.key), ['lsmns.io/label']);
    });
    it('a re-run after the shim wrote the label plans the same label (idempotent)', () => {
      const first = plan(requestFromBundle(capture('app', LAB, 'cri-containerd.apparmor.d'), { kind: 'bundle', ref: 'b' }, null, {}), FACTS);
      const again = plan(requestFromBundle(capture('app', LAB, first.containers[0]!.label!), { kind: 'bundle', ref: 'b' }, null, {}), FACTS);
      assert.equal(again.containers[0]!.label, first.containers[0]!.label);
    });
    it('hostile CRI identity annotations are input problems', () => {
      const c = capture('app', { ...LAB, 'io.kubernetes.cri.sandbox-namespace': '../other-tenant' });
      const p = plan(requestFromBundle(c, { kind: 'bundle', ref: 'b' }, null, {}), FACTS);
      assert.equal(p.outcome, 'invalid');
      assert.equal(p.problems[0]!.key, 'io.kubernetes.cri.sandbox-namespace');
    });
  });

  describe('label delivery', () => {
    const pod = (ns: string) => checkPod({ metadata: { name: 'a', namespace: 'n', annotations: { 'lsmns.io/apparmor-namespace': ns } }, spec: { containers: [{ name: 'c' }] } }, 'x').pod!;
    it('refuses "auto" with field delivery, naming the key (the UID is assigned after admission)', () => {
      const p = plan(requestFromPod(pod('auto'), 'x', { delivery: 'field' }), FACTS);
      assert.equal(p.outcome, 'invalid');
      assert.deepEqual(p.problems.map((x) => [x.key, x.value]), [['lsmns.io/apparmor-namespace', '"auto"']]);
      assert.match(p.problems[0]!.rule, /cannot be used with label delivery "field"/);
      assert.deepEqual(p.steps, []);
    });
    it('takes "auto" with shim delivery, and a named namespace with field delivery', () => {
      assert.equal(plan(requestFromPod(pod('auto'), 'x', { delivery: 'shim' }), FACTS).outcome, 'ready');
      const f = plan(requestFromPod(pod('tenant-a'), 'x', { delivery: 'field' }), FACTS);
      assert.equal(f.outcome, 'ready');
      const t = f.steps.find((s) => s.kind === 'transitionRootTask')!;
      assert.deepEqual([t.realizedBy, t.stage], ['webhook', 'admission']);
    });
  });

  describe('hostBoundOf', () => {
    const cases: [string | undefined, string | null][] = [
      [undefined, null], ['', null], ['unconfined', null], ['&:ns:p', null], [':ns:p', null],
      ['cri-containerd.apparmor.d', 'cri-containerd.apparmor.d'], ['cri-containerd.apparmor.d//&:ns:p', 'cri-containerd.apparmor.d'],
    ];
    for (const [v, want] of cases) it(`${JSON.stringify(v)} -> ${JSON.stringify(want)}`, () => assert.equal(hostBoundOf(v, 'x')?.value ?? null, want));
  });

  describe('auto namespace names', () => {
    const base: Pick<PlanRequest, 'pod' | 'sandboxId' | 'containerId'> = { pod: { name: null, namespace: null, uid: null }, sandboxId: null, containerId: null };
    it('comes from the pod UID', () => assert.equal(deriveNamespaceName({ ...base, pod: { ...base.pod, uid: '5d6e7f80-9a1b' } }).name, 'lsmns-5d6e7f80-9a1b'));
    it('hashes a UID that is not name-safe, into a valid name', () => {
      const n = deriveNamespaceName({ ...base, pod: { ...base.pod, uid: 'UPPER-Case' } }).name;
      assert.match(n, /^lsmns-[0-9a-f]{32}$/);
    });
    it('comes from the sandbox id without Kubernetes UID, and is stable', () => {
      const a = deriveNamespaceName({ ...base, sandboxId: 'f'.repeat(64) });
      assert.equal(a.name, deriveNamespaceName({ ...base, sandboxId: 'f'.repeat(64) }).name);
      assert.notEqual(a.name, deriveNamespaceName({ ...base, sandboxId: 'e'.repeat(64) }).name);
      assert.equal(a.from, 'sandbox id');
    });
    it('comes from the container id last', () => assert.equal(deriveNamespaceName({ ...base, containerId: 'web-1' }).from, 'container id'));
  });

  describe('feasibility', () => {
    const pod = checkPod({ metadata: { name: 'a', namespace: 'n', uid: 'u-1', annotations: { 'lsmns.io/apparmor-namespace': 'x' } }, spec: { containers: [{ name: 'c' }] } }, 'x').pod!;
    const req = requestFromPod(pod, 'x', {});
    const cases: { name: string; facts: NodeFacts; code: string }[] = [
      { name: 'no AppArmor', facts: simulatedFacts({ lsm: 'lockdown,capability,landlock,bpf', kernel: '6.18.0' }), code: 'AppArmorNotActive' },
      { name: 'SELinux wins over a later AppArmor', facts: simulatedFacts({ lsm: 'capability,selinux,apparmor', kernel: '6.1.0' }), code: 'AppArmorNotActive' },
      { name: 'no stacking before 4.11', facts: simulatedFacts({ lsm: 'capability,apparmor', kernel: '4.4.0' }), code: 'NoStacking' },
      { name: 'no policy admin', facts: simulatedFacts({ lsm: 'capability,apparmor', kernel: '6.1.0', policyAdmin: false }), code: 'NotPolicyAdmin' },
      { name: 'nested too deep', facts: simulatedFacts({ lsm: 'capability,apparmor', kernel: '6.1.0', nsLevel: 32 }), code: 'NamespaceDepthExceeded' },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        const p = plan(req, tc.facts);
        assert.equal(p.outcome, 'infeasible');
        assert.ok(p.blockers.some((b) => b.code === tc.code), JSON.stringify(p.blockers));
        assert.ok(p.blockers.every((b) => b.remedy.length > 10));
        assert.deepEqual(p.steps, []);
      });
    }
    it('depth 31 is still fine', () => assert.equal(plan(req, simulatedFacts({ lsm: 'capability,apparmor', kernel: '6.1.0', nsLevel: 31 })).outcome, 'ready'));
  });

  describe('display LSM (SPEC §1, KERNEL-FACTS B4)', () => {
    const mainline = simulatedFacts({ lsm: 'capability,apparmor', kernel: '6.1.0' });
    const ubuntuOld = simulatedFacts({ lsm: 'capability,smack,apparmor', kernel: '5.4.0', display: 'display' });
    const cases = [
      { name: 'auto on mainline: skipped, not needed', mode: 'auto' as const, f: mainline, status: 'skipped', re: /not needed/ },
      { name: 'auto where needed and possible: planned', mode: 'auto' as const, f: ubuntuOld, status: 'planned', re: /needed: \/proc\/<pid>\/attr\/\* reach smack/ },
      { name: 'apparmor on mainline: skipped with a warning', mode: 'apparmor' as const, f: mainline, status: 'skipped', re: /not possible/ },
      { name: 'none where needed: blocked', mode: 'none' as const, f: ubuntuOld, status: 'skipped', re: /disabled/ },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        const d = displayDecision(tc.mode, tc.f);
        assert.equal(d.status, tc.status);
        assert.match(d.reason, tc.re);
      });
    }
    it('apparmor on mainline warns', () => assert.equal(displayDecision('apparmor', mainline).warning?.code, 'DisplayLsmUnavailable'));
    it('none where needed gives a blocker', () => assert.equal(displayDecision('none', ubuntuOld).blocker?.code, 'AppArmorAttrUnreachable'));
  });
});
