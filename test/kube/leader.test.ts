import assert from 'node:assert/strict';
import { LeaderElector } from '../../src/kube/leader.js';
import { FakeApiServer } from './fake-apiserver.js';
import { waitFor } from '../support/wait.js';

describe('kube/leader', () => {
  let srv: FakeApiServer;
  beforeEach(async () => { srv = await new FakeApiServer().start(); });
  afterEach(async () => { await srv.stop(); });

  it('two controllers contend for the Lease: exactly one leads, and the other takes over when it stops', async () => {
    const acted: string[] = [];
    const mk = (id: string) => new LeaderElector({ api: srv.api(), namespace: 'lsmns-system', name: 'lsmns-controller', identity: id, leaseDurationMs: 1_000, renewDeadlineMs: 600, retryPeriodMs: 100, onStartedLeading: () => acted.push(`${id} leads`), onStoppedLeading: () => acted.push(`${id} stops`) });
    const a = mk('a');
    const b = mk('b');
    a.start();
    b.start();
    await waitFor(() => a.isLeader || b.isLeader, 'a leader');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(Number(a.isLeader) + Number(b.isLeader), 1, 'only one leads');
    const [leader, standby] = a.isLeader ? [a, b] : [b, a];
    const leaderId = a.isLeader ? 'a' : 'b';
    assert.equal(srv.lease('lsmns-system', 'lsmns-controller')!.spec && (srv.lease('lsmns-system', 'lsmns-controller')!.spec as { holderIdentity: string }).holderIdentity, leaderId);
    assert.ok(srv.leaseWrites.some((w) => w.method === 'PUT'), 'the leader renews with PUT');
    await leader.stop();
    await waitFor(() => standby.isLeader, 'the standby takes over', { timeoutMs: 3_000 });
    assert.equal(leader.isLeader, false);
    await standby.stop();
    assert.deepEqual(acted.filter((x) => x.endsWith('leads')).length, 2);
    assert.ok(acted.indexOf(`${leaderId} stops`) < acted.lastIndexOf(`${leaderId === 'a' ? 'b' : 'a'} leads`), 'no overlap: the first stops before the second leads');
  });

  it('a standby does not take a lease that is still being renewed', async () => {
    const a = new LeaderElector({ api: srv.api(), namespace: 'x', name: 'l', identity: 'a', leaseDurationMs: 1_000, retryPeriodMs: 100 });
    a.start();
    await waitFor(() => a.isLeader, 'a leads');
    const b = new LeaderElector({ api: srv.api(), namespace: 'x', name: 'l', identity: 'b', leaseDurationMs: 1_000, retryPeriodMs: 100 });
    b.start();
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(b.isLeader, false);
    assert.equal(a.isLeader, true);
    await b.stop();
    await a.stop();
  });
});
