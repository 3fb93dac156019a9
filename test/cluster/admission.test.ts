// Admission by the real API server: the lsmns webhook called over TLS through its Service, and the
// ValidatingAdmissionPolicy's CEL evaluated by the API server itself.

import assert from 'node:assert/strict';
import { LSMNS_NS, createPod, deleteNamespace, kubectl, kubectlJson, kubectlOk, makeNamespace, podDoc, requireCluster, until } from './cluster.js';

const OPTED = 'lsmns-t-adm-on';
const PLAIN = 'lsmns-t-adm-off';
const VALID = { 'lsmns.io/apparmor-namespace': 'adm-tenant' };
// A path in the namespace name: the policy's rule for lsmns.io/apparmor-namespace refuses it.
const HOSTILE = { 'lsmns.io/apparmor-namespace': '../../../sys/kernel/security' };

describe('cluster: admission', function () {
  this.timeout(180_000);
  before(function () {
    requireCluster();
    makeNamespace(OPTED, { 'lsmns.io/enabled': 'true' });
    makeNamespace(PLAIN);
    // A second RuntimeClass (the RuntimeClass admission plugin refuses a pod naming one that does not exist).
    kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'lsmns-t-other' }, handler: 'runc' }));
  });
  after(() => {
    deleteNamespace(OPTED);
    deleteNamespace(PLAIN);
    kubectl(['delete', 'runtimeclass', 'lsmns-t-other', '--ignore-not-found']);
  });

  it('opted-in namespace: the webhook (over TLS) gives a valid pod runtimeClassName lsmns, and it is stored so', () => {
    const r = createPod(podDoc('valid', OPTED, { annotations: VALID }));
    assert.equal(r.error, undefined);
    assert.equal(r.pod!.spec.runtimeClassName, 'lsmns');
    const stored = JSON.parse(kubectlOk(['-n', OPTED, 'get', 'pod', 'valid', '-o', 'json']));
    assert.equal(stored.spec.runtimeClassName, 'lsmns');
    kubectl(['-n', OPTED, 'delete', 'pod', 'valid', '--wait=false', '--grace-period=0', '--force']);
  });

  it('opted-in namespace: a pod without lsmns annotations is left alone', () => {
    const r = createPod(podDoc('plain', OPTED), true);
    assert.equal(r.error, undefined);
    assert.equal(r.pod!.spec.runtimeClassName, undefined);
  });

  it('opted-in namespace: a hostile annotation at creation is refused by the webhook (it runs before the policy), naming the key', () => {
    const r = createPod(podDoc('hostile', OPTED, { annotations: HOSTILE }), true);
    assert.ok(r.error, 'admitted');
    assert.match(r.error!, /admission webhook "pods\.lsmns\.io" denied the request/);
    assert.match(r.error!, /lsmns\.io\/apparmor-namespace="\.\.\/\.\.\/\.\.\/sys\/kernel\/security": namespace name must not contain '\.\.'/);
  });

  // The webhook sees only CREATE; an edit of a stored pod's annotations meets the ValidatingAdmissionPolicy alone,
  // evaluated by the API server itself.
  describe('an annotation edit of a stored pod, refused by the ValidatingAdmissionPolicy', () => {
    before(() => {
      const r = createPod(podDoc('edited', OPTED, { annotations: VALID }));
      assert.equal(r.error, undefined);
    });
    after(() => kubectl(['-n', OPTED, 'delete', 'pod', 'edited', '--wait=false', '--grace-period=0', '--force']));

    it('a hostile value: refused, naming the key', () => {
      const r = kubectl(['-n', OPTED, 'annotate', 'pod', 'edited', '--overwrite', `lsmns.io/apparmor-namespace=${HOSTILE['lsmns.io/apparmor-namespace']}`]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /ValidatingAdmissionPolicy 'lsmns-annotations' with binding 'lsmns-annotations' denied request/);
      assert.match(r.stderr, /lsmns\.io\/apparmor-namespace must be auto or a name/);
    });

    it('an unknown lsmns.io/ key (a typo): refused', () => {
      const r = kubectl(['-n', OPTED, 'annotate', 'pod', 'edited', 'lsmns.io/apparmor-profil=web']);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /ValidatingAdmissionPolicy 'lsmns-annotations' with binding 'lsmns-annotations' denied request: unknown lsmns\.io\/ annotation key/);
    });

    it('control: a valid edit passes the policy', () => {
      const r = kubectl(['-n', OPTED, 'annotate', 'pod', 'edited', '--overwrite', 'lsmns.io/apparmor-namespace=adm-tenant-2']);
      assert.equal(r.code, 0, r.stderr);
    });
  });

  it('opted-in namespace: a pod naming another RuntimeClass is refused with the webhook\'s message', () => {
    const r = createPod(podDoc('other-rc', OPTED, { annotations: VALID, runtimeClassName: 'lsmns-t-other' }), true);
    assert.ok(r.error, 'admitted');
    assert.match(r.error!, /admission webhook "pods\.lsmns\.io" denied the request/);
    assert.match(r.error!, /names runtimeClassName "lsmns-t-other", but its lsmns\.io\/ annotations need the RuntimeClass "lsmns"/);
  });

  it('a namespace that overrides delivery to field: the admitted pod carries the planned Localhost profile', () => {
    const ns = 'lsmns-t-adm-field';
    makeNamespace(ns, { 'lsmns.io/enabled': 'true', 'lsmns.io/label-delivery': 'field' });
    try {
      const ann = { 'lsmns.io/apparmor-namespace': 'adm-field', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };
      const r = createPod(podDoc('field', ns, { annotations: ann }), true);
      assert.equal(r.error, undefined);
      assert.equal(r.pod!.spec.runtimeClassName, undefined);
      const prof = r.pod!.spec.containers[0].securityContext?.appArmorProfile;
      assert.equal(prof?.type, 'Localhost', JSON.stringify(r.pod!.spec.containers[0]));
      assert.match(prof.localhostProfile, /:adm-field:web$/);
      assert.equal(r.pod!.metadata.annotations['container.apparmor.security.beta.kubernetes.io/main'], `localhost/${prof.localhostProfile}`);
    } finally {
      deleteNamespace(ns);
    }
  });

  describe('a namespace that has not opted in: the same pods are left alone', () => {
    for (const [name, o] of [
      ['valid', { annotations: VALID }],
      ['hostile', { annotations: HOSTILE }],
      ['other-rc', { annotations: VALID, runtimeClassName: 'lsmns-t-other' }],
    ] as const) {
      it(`${name}: admitted unchanged`, () => {
        const r = createPod(podDoc(name, PLAIN, o), true);
        assert.equal(r.error, undefined);
        assert.equal(r.pod!.spec.runtimeClassName, 'runtimeClassName' in o ? o.runtimeClassName : undefined);
        assert.deepEqual(r.pod!.metadata.annotations, o.annotations);
      });
    }
  });

  describe('with both controller replicas scaled to zero (failurePolicy: Fail)', () => {
    before(async () => {
      kubectlOk(['-n', LSMNS_NS, 'scale', 'deployment/lsmns-controller', '--replicas=0']);
      await until('no controller pod', 120_000, () =>
        (kubectlJson(['-n', LSMNS_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=lsmns-controller']).items.length === 0 ? true : undefined));
    });
    after(() => {
      kubectlOk(['-n', LSMNS_NS, 'scale', 'deployment/lsmns-controller', '--replicas=2']);
      kubectlOk(['-n', LSMNS_NS, 'rollout', 'status', 'deployment/lsmns-controller', '--timeout=180s']);
    });

    it('pod creation in the opted-in namespace fails, naming the webhook', () => {
      const r = createPod(podDoc('closed', OPTED, { annotations: VALID }), true);
      assert.match(r.error ?? 'admitted', /failed calling webhook "pods\.lsmns\.io"/);
    });

    it('other namespaces are unaffected', () => {
      const r = createPod(podDoc('open', PLAIN, { annotations: VALID }), true);
      assert.equal(r.error, undefined);
    });
  });
});
