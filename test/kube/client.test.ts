// Request shapes of the API adapter, checked with nock: paths, selectors, auth, patch content types, and
// how API errors surface (Status message and code).

import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import nock from 'nock';
import { ApiError, HttpKubeApi, statusOf } from '../../src/kube/client.js';

const SERVER = 'https://kube.example:6443';

function api(): HttpKubeApi {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: SERVER, skipTLSVerify: false }], users: [{ name: 'u', token: 'sekret' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return new HttpKubeApi(kc);
}

describe('kube/client (request shapes, nock)', () => {
  afterEach(() => nock.cleanAll());
  after(() => nock.restore());

  it('lists with encoded selectors and the bearer token; returns items and the list resourceVersion', async () => {
    const scope = nock(SERVER, { reqheaders: { authorization: 'Bearer sekret', accept: 'application/json' } })
      .get('/api/v1/pods').query({ fieldSelector: 'spec.nodeName=node-a', labelSelector: 'lsmns.io/enabled=true' })
      .reply(200, { kind: 'PodList', metadata: { resourceVersion: '42' }, items: [{ metadata: { name: 'p' } }] });
    const r = await api().list('/api/v1/pods', { fieldSelector: 'spec.nodeName=node-a', labelSelector: 'lsmns.io/enabled=true' });
    assert.equal(r.resourceVersion, '42');
    assert.equal(r.items.length, 1);
    scope.done();
  });

  it('patches with the content type of each patch kind, and posts JSON', async () => {
    const seen: string[] = [];
    nock(SERVER)
      .patch('/api/v1/namespaces/a/pods/p/status').reply(200, function (_u, body) { seen.push(`${this.req.headers['content-type']} ${typeof body === 'string' ? body : JSON.stringify(body)}`); return {}; })
      .patch('/api/v1/nodes/n').reply(200, function () { seen.push(String(this.req.headers['content-type'])); return {}; })
      .post('/api/v1/namespaces/a/events').reply(201, function (_u, body) { seen.push(`${this.req.headers['content-type']} ${(body as { reason: string }).reason}`); return body as object; });
    const a = api();
    await a.patch('/api/v1/namespaces/a/pods/p/status', { status: { conditions: [{ type: 'lsmns.io/Confined', status: 'True' }] } }, 'strategic');
    await a.patch('/api/v1/nodes/n', { metadata: { labels: { x: 'y' } } }, 'merge');
    await a.create('/api/v1/namespaces/a/events', { reason: 'Confined' });
    assert.deepEqual(seen, [
      'application/strategic-merge-patch+json {"status":{"conditions":[{"type":"lsmns.io/Confined","status":"True"}]}}',
      'application/merge-patch+json',
      'application/json Confined',
    ]);
  });

  it('an API error carries the HTTP status and the Status message', async () => {
    nock(SERVER).put('/apis/coordination.k8s.io/v1/namespaces/s/leases/l')
      .reply(409, { kind: 'Status', status: 'Failure', reason: 'Conflict', message: 'the object has been modified', code: 409 });
    await assert.rejects(api().replace('/apis/coordination.k8s.io/v1/namespaces/s/leases/l', {}), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(statusOf(e), 409);
      assert.match((e as Error).message, /PUT \/apis\/coordination\.k8s\.io\/v1\/namespaces\/s\/leases\/l: HTTP 409: the object has been modified/);
      return true;
    });
  });
});
