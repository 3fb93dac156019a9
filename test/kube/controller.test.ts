import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller } from '../../src/kube/controller.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { FakeApiServer } from './fake-apiserver.js';
import { podObj } from './helpers.js';
import { waitFor } from '../support/wait.js';

const quiet = { info() {}, warn() {}, error() {} };
const reviewFixture = fileURLToPath(new URL('../../../test/fixtures/admission/review-pod-create.json', import.meta.url));

function selfSigned(): { cert: string; key: string } {
  const d = tempDir('lsmns-tls-');
  const cert = join(d, 'tls.crt');
  const key = join(d, 'tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=lsmns-webhook.lsmns-system.svc', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function post(port: number, body: unknown, agent?: Agent): Promise<{ status: number; json: unknown; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', rejectUnauthorized: false, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')), reused: r.reusedSocket }));
    });
    r.on('error', reject);
    r.end(JSON.stringify(body));
  });
}

const bad = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-stackin': 'bounded' };
const good = { 'lsmns.io/apparmor-namespace': 'tenant-a' };

describe('kube/controller (fake API server)', () => {
  let srv: FakeApiServer;
  const ctrls: Controller[] = [];
  beforeEach(async () => { srv = await new FakeApiServer().start(); });
  afterEach(async () => { for (const c of ctrls.splice(0)) await c.stop(); await srv.stop(); });

  function make(id: string, extra: Partial<ConstructorParameters<typeof Controller>[0]> = {}): Controller {
    const c = new Controller({ api: srv.api(), namespace: 'lsmns-system', identity: id, labelDelivery: 'shim', runtimeClass: 'lsmns', logger: quiet, lease: { durationMs: 1_000, retryPeriodMs: 100, renewDeadlineMs: 600 }, ...extra });
    ctrls.push(c);
    return c;
  }

  it('records InvalidAnnotation once, from the leader only, for pods in opted-in namespaces only', async () => {
    srv.put('namespaces', { metadata: { name: 'team-a', labels: { 'lsmns.io/enabled': 'true' } } });
    srv.put('namespaces', { metadata: { name: 'team-b' } });
    srv.put('pods', podObj('team-a', 'typo', { annotations: bad }));
    srv.put('pods', podObj('team-a', 'fine', { annotations: good }));
    srv.put('pods', podObj('team-b', 'typo', { annotations: bad }));
    const a = make('a');
    const b = make('b');
    await a.start();
    await b.start();
    await waitFor(() => srv.events.length >= 1, 'an Event');
    await new Promise((r) => setTimeout(r, 300));
    await a.waitForIdle();
    await b.waitForIdle();
    assert.equal(srv.events.length, 1, 'one Event: the standby stays silent, team-b is not opted in, the valid pod gets none');
    const ev = srv.events[0]!.body as { reason: string; type: string; message: string; involvedObject: { name: string; namespace: string }; source: { host: string } };
    assert.equal(ev.reason, 'InvalidAnnotation');
    assert.equal(ev.type, 'Warning');
    assert.deepEqual([ev.involvedObject.namespace, ev.involvedObject.name], ['team-a', 'typo']);
    assert.match(ev.message, /lsmns\.io\/apparmor-stackin="bounded": unknown key under lsmns\.io\//);
    const leaderId = a.leader.isLeader ? 'a' : 'b';
    assert.equal(ev.source.host, leaderId);
    // Opting a namespace in later picks its pods up; a fix to the annotations is not reported again.
    srv.put('namespaces', { metadata: { name: 'team-b', labels: { 'lsmns.io/enabled': 'true' } } });
    await waitFor(() => srv.events.length === 2, 'the Event for team-b');
    srv.put('pods', podObj('team-a', 'typo', { annotations: good }));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(srv.events.length, 2);
  });

  it('serves /healthz, /readyz (after the first list) and Prometheus /metrics with low-cardinality labels', async () => {
    srv.put('namespaces', { metadata: { name: 'team-a', labels: { 'lsmns.io/enabled': 'true' } } });
    srv.put('pods', podObj('team-a', 'typo', { annotations: bad }));
    const c = make('a', { healthPort: 0 });
    await c.start();
    const get = async (p: string) => { const r = await fetch(`http://127.0.0.1:${c.healthPort}${p}`); return { status: r.status, text: await r.text() }; };
    assert.equal((await get('/healthz')).status, 200);
    await waitFor(async () => (await get('/readyz')).status === 200, 'ready');
    await waitFor(() => srv.events.length === 1, 'the Event');
    const m = (await get('/metrics')).text;
    assert.match(m, /lsmns_informer_relists_total\{resource="pods",cause="startup",component="controller"\} 1/);
    assert.match(m, /lsmns_events_total\{reason="InvalidAnnotation",type="Warning",component="controller"\} 1/);
    assert.match(m, /lsmns_leader\{component="controller"\} 1/);
    assert.doesNotMatch(m, /team-a|typo/, 'no pod or namespace names in labels');
  });

  it('serves the webhook over HTTPS, with the per-namespace delivery override', async () => {
    const tls = selfSigned();
    srv.put('namespaces', { metadata: { name: 'team-a', labels: { 'lsmns.io/enabled': 'true' } } });
    srv.put('namespaces', { metadata: { name: 'crio-team', labels: { 'lsmns.io/enabled': 'true', 'lsmns.io/label-delivery': 'field' } } });
    const c = make('a', { webhook: { port: 0, certFile: tls.cert, keyFile: tls.key, host: '127.0.0.1' } });
    await c.start();
    await c.namespaces.waitForSync();
    const base = JSON.parse(readFileSync(reviewFixture, 'utf8'));
    base.request.object.metadata.annotations = { 'lsmns.io/apparmor-namespace': 'tenant-a' };
    const r1 = await post(c.webhookPort, base);
    const resp1 = (r1.json as { response: { allowed: boolean; patch: string } }).response;
    assert.equal(resp1.allowed, true);
    assert.deepEqual(JSON.parse(Buffer.from(resp1.patch, 'base64').toString()), [{ op: 'add', path: '/spec/runtimeClassName', value: 'lsmns' }]);
    base.request.namespace = 'crio-team';
    base.request.object.metadata.namespace = 'crio-team';
    const resp2 = ((await post(c.webhookPort, base)).json as { response: { patch: string } }).response;
    const ops = JSON.parse(Buffer.from(resp2.patch, 'base64').toString()) as { path: string; value: unknown }[];
    assert.deepEqual(ops[0], { op: 'add', path: '/spec/containers/0/securityContext', value: { appArmorProfile: { type: 'Localhost', localhostProfile: '&:tenant-a:unconfined' } } });
    const r3 = await post(c.webhookPort, { hello: 1 });
    assert.equal((r3.json as { response: { allowed: boolean } }).response.allowed, false);
    const m = await c.metrics.registry.getSingleMetricAsString('lsmns_admission_reviews_total');
    assert.match(m, /mode="shim",result="patched"/);
    assert.match(m, /mode="field",result="patched"/);
  });

  it('keeps an idle webhook connection past Node\'s default (5 s, closed about 6 s in), as the API server (90 s idle) expects', async function () {
    this.timeout(20_000);
    const tls = selfSigned();
    const c = make('a', { webhook: { port: 0, certFile: tls.cert, keyFile: tls.key, host: '127.0.0.1' } });
    await c.start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await post(c.webhookPort, { hello: 1 }, agent);
      assert.equal(first.reused, false);
      await new Promise((r) => setTimeout(r, 7_500));
      const second = await post(c.webhookPort, { hello: 1 }, agent);
      assert.equal(second.status, 200);
      assert.equal(second.reused, true, 'the webhook closed the idle connection, so the next admission pays a new TLS handshake');
    } finally {
      agent.destroy();
    }
  });
});
