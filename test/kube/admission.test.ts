import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { deliveryFrom, namespaceDelivery, review, type AdmissionReview, type LabelDelivery } from '../../src/kube/admission.js';
import { cliEnv, lsmns } from '../commands/cli.js';
import { applyJsonPatch } from './helpers.js';

const fixture = (p: string) => fileURLToPath(new URL(`../../../test/fixtures/${p}`, import.meta.url));
const base = JSON.parse(readFileSync(fixture('admission/review-pod-create.json'), 'utf8')) as AdmissionReview;

type PodLike = { metadata: Record<string, unknown> & { annotations?: Record<string, string> }; spec: Record<string, unknown> };

/** The fixture review, with a plan-fixture pod as its object (uid removed: admission comes before it). */
function reviewFor(podFile: string | PodLike, over: Partial<AdmissionReview['request']> = {}): AdmissionReview {
  const pod = typeof podFile === 'string' ? YAML.parse(readFileSync(fixture(podFile), 'utf8')) as PodLike : structuredClone(podFile);
  delete pod.metadata.uid;
  const r = structuredClone(base);
  const obj = r.request!.object as PodLike;
  r.request = { ...r.request!, name: pod.metadata.name as string, namespace: pod.metadata.namespace as string, ...over, object: { ...obj, metadata: { ...obj.metadata, ...pod.metadata }, spec: { ...obj.spec, ...pod.spec } } };
  return r;
}

function run(r: AdmissionReview, mode: LabelDelivery) {
  const out = review(r, { mode, runtimeClass: 'lsmns' }).review;
  assert.equal(out.apiVersion, 'admission.k8s.io/v1');
  assert.equal(out.kind, 'AdmissionReview');
  assert.equal(out.response!.uid, r.request?.uid ?? '', 'the response echoes request.uid');
  const res = out.response!;
  const ops = res.patch ? JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8')) as { op: string; path: string; value: unknown }[] : [];
  if (res.patch) assert.equal(res.patchType, 'JSONPatch');
  const patched = applyJsonPatch(r.request!.object as PodLike, ops);
  return { res, ops, patched };
}

const annotated = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };
const simplePod = (annotations: Record<string, string>, spec: Record<string, unknown> = {}): PodLike => ({ metadata: { name: 'web', namespace: 'team-a', annotations }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }], ...spec } });

describe('kube/admission (AdmissionReview v1, JSONPatch)', () => {
  describe('shim delivery', () => {
    it('sets spec.runtimeClassName on an annotated pod', () => {
      const { res, ops, patched } = run(reviewFor(simplePod(annotated)), 'shim');
      assert.equal(res.allowed, true);
      assert.deepEqual(ops, [{ op: 'add', path: '/spec/runtimeClassName', value: 'lsmns' }]);
      assert.equal(patched.spec.runtimeClassName, 'lsmns');
    });

    it('denies a pod that names another RuntimeClass, saying why and what to do', () => {
      const { res } = run(reviewFor(simplePod(annotated, { runtimeClassName: 'kata' })), 'shim');
      assert.equal(res.allowed, false);
      assert.equal(res.patch, undefined, 'nothing is changed');
      assert.equal(res.status!.code, 403);
      assert.match(res.status!.message, /names runtimeClassName "kata"/);
      assert.match(res.status!.message, /Remedy: remove spec\.runtimeClassName/);
    });

    it('leaves a pod that already names the lsmns RuntimeClass, and pods without lsmns.io/ keys, unchanged', () => {
      for (const p of [simplePod(annotated, { runtimeClassName: 'lsmns' }), simplePod({ 'other.io/x': 'y' }), simplePod({}, { runtimeClassName: 'kata' })]) {
        const { res } = run(reviewFor(p), 'shim');
        assert.equal(res.allowed, true);
        assert.equal(res.patch, undefined);
      }
    });

    it('denies invalid annotations with the same messages as lsmns plan', () => {
      const { res } = run(reviewFor('plans/hostile-annotations/pod.yaml'), 'shim');
      assert.equal(res.allowed, false);
      assert.equal(res.status!.code, 400);
      const cli = lsmns(cliEnv(), ['plan', '--pod', fixture('plans/hostile-annotations/pod.yaml')]);
      assert.equal(cli.code, 2);
      const cliErrors = cli.stdout.split('\n').filter((l) => l.trimStart().startsWith('error:'));
      const hookErrors = res.status!.message.split('\n').filter((l) => l.trimStart().startsWith('error:'));
      assert.ok(cliErrors.length >= 4);
      assert.deepEqual(hookErrors, cliErrors);
    });
  });

  describe('keys that only look like lsmns keys (issue 16, finding 9)', () => {
    const lookalikes = ['lsmns.\u0456o/apparmor-namespace', 'l\u0455mns.io/apparmor-namespace', 'Ismns.io/apparmor-namespace', 'LSMNS.IO/apparmor-namespace', 'lsrnns.io/apparmor-namespace', '1smns.io/apparmor-namespace', 'lsmns-io/apparmor-namespace', 'container.\u217csmns.io/web', '\uff4c\uff53\uff4d\uff4e\uff53.io/apparmor-namespace'];
    for (const mode of ['shim', 'field'] as const) {
      for (const key of lookalikes) {
        it(`${mode}: denies ${JSON.stringify(key)}, naming it`, () => {
          const { res } = run(reviewFor(simplePod({ [key]: 'tenant-a' })), mode);
          assert.equal(res.allowed, false);
          assert.equal(res.status!.code, 400);
          assert.match(res.status!.message, /only looks like lsmns keys/);
          assert.ok(res.status!.message.includes(key.slice(-10)), res.status!.message);
        });
      }
    }
    it('allows the real keys and keys that merely mention lsmns after their owner', () => {
      for (const ann of [annotated, { 'example.com/lsmns-notes': 'x' }, { 'app.kubernetes.io/name': 'lsmns' }] as Record<string, string>[]) {
        assert.equal(run(reviewFor(simplePod(ann, { runtimeClassName: 'lsmns' })), 'shim').res.allowed, true, JSON.stringify(ann));
      }
    });
  });

  describe('field delivery', () => {
    it('stacks under RuntimeDefault (crio-default), as the planner computes it, and keeps the beta annotation in step', () => {
      const { res, patched } = run(reviewFor('plans/field-delivery/pod.yaml'), 'field');
      assert.equal(res.allowed, true);
      const c = (patched.spec.containers as { securityContext: { appArmorProfile: unknown } }[])[0]!;
      assert.deepEqual(c.securityContext.appArmorProfile, { type: 'Localhost', localhostProfile: 'crio-default//&:tenant-d:api' });
      assert.equal(patched.metadata.annotations!['container.apparmor.security.beta.kubernetes.io/api'], 'localhost/crio-default//&:tenant-d:api');
      assert.ok(res.warnings!.some((w) => w.includes('crio-default is kept as the host bound')));
    });

    it('an existing Localhost profile becomes the host bound, never replaced', () => {
      const { patched } = run(reviewFor('plans/bounded-host-profile/pod.yaml'), 'field');
      const c = (patched.spec.containers as { securityContext: { appArmorProfile: unknown } }[])[0]!;
      assert.deepEqual(c.securityContext.appArmorProfile, { type: 'Localhost', localhostProfile: 'host-web//&:tenant-a:web' });
    });

    it('a container without a securityContext gets one; init containers are labelled too', () => {
      const pod = simplePod({ ...annotated, 'container.lsmns.io/init': 'setup' }, { initContainers: [{ name: 'init', image: 'busybox' }] });
      const { ops, patched } = run(reviewFor(pod), 'field');
      assert.ok(ops.some((o) => o.path === '/spec/containers/0/securityContext'));
      assert.deepEqual((patched.spec.initContainers as { securityContext: unknown }[])[0]!.securityContext, { appArmorProfile: { type: 'Localhost', localhostProfile: '&:tenant-a:setup' } });
      assert.deepEqual((patched.spec.containers as { securityContext: unknown }[])[0]!.securityContext, { appArmorProfile: { type: 'Localhost', localhostProfile: '&:tenant-a:web' } });
    });

    it('stacking none over a host profile is denied, as the CLI refuses it', () => {
      const pod = simplePod({ ...annotated, 'lsmns.io/apparmor-stacking': 'none' }, { containers: [{ name: 'web', image: 'x', securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } }] });
      const { res } = run(reviewFor(pod), 'field');
      assert.equal(res.allowed, false);
      assert.match(res.status!.message, /lsmns\.io\/apparmor-stacking="none": "none" would replace the host profile "crio-default"/);
    });

    it('denies "auto": the UID it derives from is assigned after admission', () => {
      const { res } = run(reviewFor(simplePod({ 'lsmns.io/apparmor-namespace': 'auto' })), 'field');
      assert.equal(res.allowed, false);
      assert.match(res.status!.message, /"auto" cannot be used with label delivery "field"/);
    });
  });

  it('allows UPDATE untouched (AppArmor settings cannot change on update) and refuses a malformed review', () => {
    assert.equal(run(reviewFor(simplePod({ 'lsmns.io/apparmor-namespace': '../x' }), { operation: 'UPDATE' }), 'shim').res.allowed, true);
    const bad = review({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }, { mode: 'shim', runtimeClass: 'lsmns' }).review;
    assert.equal(bad.response!.allowed, false);
    assert.equal(bad.response!.uid, 'u');
    assert.match(bad.response!.status!.message, /admissionReviewVersions/);
    // An annotation value that is an object whose toString is not a function (String() throws on it): denied.
    const odd = run(reviewFor(simplePod({ 'lsmns.io/apparmor-namespace': { toString: 0 } as unknown as string })), 'shim').res;
    assert.deepEqual([odd.allowed, odd.status!.code], [false, 400]);
  });

  describe('the delivery mode as users write it', () => {
    const cases: [string | undefined, string | null][] = [['shim', 'shim'], ['field', 'field'], ['runtimeclass', 'shim'], ['RuntimeClass', null], ['', null], [undefined, null]];
    for (const [v, want] of cases) it(`${JSON.stringify(v)} -> ${String(want)}`, () => assert.equal(deliveryFrom(v), want));
    it('a namespace label with the old word keeps working; a wrong one falls back with a problem', () => {
      assert.deepEqual(namespaceDelivery({ 'lsmns.io/label-delivery': 'runtimeclass' }, 'field'), { mode: 'shim', problem: null });
      const bad = namespaceDelivery({ 'lsmns.io/label-delivery': 'nope' }, 'field');
      assert.equal(bad.mode, 'field');
      assert.match(bad.problem!, /is not shim or field; using field/);
    });
  });
});
