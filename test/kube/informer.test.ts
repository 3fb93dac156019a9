import assert from 'node:assert/strict';
import { Informer, backoffDelay } from '../../src/kube/informer.js';
import type { KubeObject } from '../../src/kube/client.js';
import { FakeApiServer } from './fake-apiserver.js';
import { podObj } from './helpers.js';
import { waitFor } from '../support/wait.js';

type Slim = { key: string; rv: string; node: string };
const project = (o: KubeObject): Slim => ({ key: `${o.metadata!.namespace}/${o.metadata!.name}`, rv: o.metadata!.resourceVersion!, node: String((o.spec as { nodeName?: string }).nodeName) });

describe('kube/informer', () => {
  let srv: FakeApiServer;
  let inf: Informer<Slim> | null = null;
  const seen: string[] = [];
  const relists: string[] = [];
  const restarts: string[] = [];

  beforeEach(async () => {
    srv = await new FakeApiServer().start();
    seen.length = 0; relists.length = 0; restarts.length = 0;
  });
  afterEach(async () => { await inf?.stop(); inf = null; await srv.stop(); });

  function make(o: { watchdogMs?: number; fieldSelector?: string } = {}): Informer<Slim> {
    inf = new Informer<Slim>({
      api: srv.api(), path: '/api/v1/pods', resource: 'pods', project, keyOf: (c) => c.key, versionOf: (c) => c.rv,
      fieldSelector: o.fieldSelector, watchdogMs: o.watchdogMs ?? 60_000, backoff: { initialMs: 20, maxMs: 200 }, minHealthyWatchMs: 0,
      handlers: { add: (c) => seen.push(`add ${c.key}`), update: (_o, c) => seen.push(`update ${c.key}`), delete: (c) => seen.push(`delete ${c.key}`) },
      hooks: { relisted: (_r, cause) => relists.push(cause), restarted: (_r, cause) => restarts.push(cause) },
    });
    inf.start();
    return inf;
  }

  it('lists at startup, then streams watch events from the list resourceVersion', async () => {
    srv.put('pods', podObj('a', 'p1'));
    srv.put('pods', podObj('a', 'p2'));
    const i = make();
    await i.waitForSync();
    assert.deepEqual(relists, ['startup']);
    assert.deepEqual([...i.cache.keys()].sort(), ['a/p1', 'a/p2']);
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.put('pods', podObj('a', 'p3'));
    srv.remove('pods', 'a', 'p1');
    await waitFor(() => seen.includes('delete a/p1'), 'the delete event');
    assert.deepEqual(seen, ['add a/p1', 'add a/p2', 'add a/p3', 'delete a/p1']);
    const w = srv.requests.find((r) => r.query.watch === 'true')!;
    assert.equal(w.query.resourceVersion, String(3), 'the watch starts where the list ended');
  });

  it('relists on 410 Gone and reports what changed while it was away', async () => {
    srv.put('pods', podObj('a', 'p1'));
    const i = make();
    await i.waitForSync();
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.stall(true);
    srv.remove('pods', 'a', 'p1');
    srv.put('pods', podObj('a', 'p9'));
    srv.stall(false);
    srv.gone();
    await waitFor(() => relists.includes('gone'), 'a relist after 410');
    await waitFor(() => i.cache.has('a/p9') && !i.cache.has('a/p1'), 'the relisted cache');
    assert.deepEqual(seen, ['add a/p1', 'add a/p9', 'delete a/p1']);
  });

  it('relists when the watch request itself is answered with HTTP 410', async () => {
    srv.goneAsHttpStatus = true;
    const i = make();
    await i.waitForSync();
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.stall(true);
    srv.put('pods', podObj('a', 'p1')); // not delivered: the stream is stalled
    srv.compact();
    srv.stall(false);
    srv.dropWatches(); // the rewatch from the old resourceVersion gets 410 as its HTTP status
    await waitFor(() => relists.includes('gone'), 'a relist after the 410 status');
    await waitFor(() => i.cache.has('a/p1'), 'p1 from the relist');
  });

  it('rewatches from the last resourceVersion after a dropped connection, missing nothing', async () => {
    const i = make();
    await i.waitForSync();
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.put('pods', podObj('a', 'p1'));
    await waitFor(() => i.cache.has('a/p1'), 'p1');
    const rvBefore = i.resourceVersion;
    srv.dropWatches();
    srv.put('pods', podObj('a', 'p2')); // happens while no watch is open
    await waitFor(() => i.cache.has('a/p2'), 'p2 after the reconnect');
    assert.ok(restarts.length >= 1, 'the restart was counted');
    assert.deepEqual(relists, ['startup'], 'a drop is not a relist: the log still holds the resourceVersion');
    const rewatch = srv.requests.filter((r) => r.query.watch === 'true')[1]!;
    assert.equal(rewatch.query.resourceVersion, rvBefore);
  });

  it('a silent stream trips the watchdog, which relists', async () => {
    const i = make({ watchdogMs: 150 });
    await i.waitForSync();
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.stall(true);
    srv.put('pods', podObj('a', 'late'));
    await waitFor(() => relists.includes('watchdog'), 'the watchdog relist', { timeoutMs: 3000 });
    await waitFor(() => i.cache.has('a/late'), 'the pod seen by the relist');
  });

  it('restarts with bounded, jittered backoff while the server refuses', async () => {
    const api = srv.api();
    let fails = 3;
    const flaky = Object.create(api) as typeof api;
    flaky.list = async (p, o) => { if (fails-- > 0) throw Object.assign(new Error('HTTP 500'), { statusCode: 500 }); return api.list(p, o); };
    inf = new Informer<Slim>({ api: flaky, path: '/api/v1/pods', resource: 'pods', project, keyOf: (c) => c.key, versionOf: (c) => c.rv, backoff: { initialMs: 10, maxMs: 40 } });
    const t0 = Date.now();
    inf.start();
    await inf.waitForSync();
    assert.ok(Date.now() - t0 >= 5 + 10 + 20, 'it waited between attempts');
    for (let n = 0; n < 20; n++) {
      const d = backoffDelay(n, { initialMs: 10, maxMs: 40 }, Math.random);
      assert.ok(d >= Math.min(40, 10 * 2 ** n) / 2 && d <= 40, `delay ${d} for failure ${n} is bounded`);
    }
    assert.notEqual(backoffDelay(3, { initialMs: 10, maxMs: 1000 }, () => 0), backoffDelay(3, { initialMs: 10, maxMs: 1000 }, () => 1), 'jitter moves the delay');
  });

  it('passes the field selector to both list and watch', async () => {
    srv.put('pods', podObj('a', 'mine', { node: 'n1' }));
    srv.put('pods', podObj('a', 'other', { node: 'n2' }));
    const i = make({ fieldSelector: 'spec.nodeName=n1' });
    await i.waitForSync();
    await waitFor(() => srv.watchCount === 1, 'the watch');
    srv.put('pods', podObj('a', 'other2', { node: 'n2' }));
    srv.put('pods', podObj('a', 'mine2', { node: 'n1' }));
    await waitFor(() => i.cache.has('a/mine2'), 'mine2');
    assert.deepEqual([...i.cache.keys()].sort(), ['a/mine', 'a/mine2']);
    assert.ok(srv.requests.filter((r) => r.path === '/api/v1/pods').every((r) => r.query.fieldSelector === 'spec.nodeName=n1'));
  });
});
