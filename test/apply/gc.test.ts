import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectOrphans, livenessFromMarker, type Liveness } from '../../src/apply/gc.js';
import { OWNER_FORMAT_VERSION, OwnershipStore, type OwnerRecord } from '../../src/apply/ownership.js';
import { kernelError } from '../../src/kernel/port.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { ownPidNamespace, procStartTime } from '../../src/liveness.js';
import { tempDir } from '../kernel/sim/helpers.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function marker(namespace: string, o: Partial<OwnerRecord> = {}): OwnerRecord {
  return {
    formatVersion: OWNER_FORMAT_VERSION, namespace, podKey: `uid:${namespace}-uid`, pod: { name: namespace, namespace: 'team-a', uid: `${namespace}-uid` }, sandboxId: null,
    state: 'ready', refs: ['c1'], policy: null, createdAt: new Date(T0).toISOString(), createdByPid: 1, ...o,
  };
}

describe('apply/gc collectOrphans', () => {
  let port: SimKernel;
  let owners: OwnershipStore;
  let dir: string;
  beforeEach(async () => {
    dir = tempDir('lsmns-gc-');
    port = new SimKernel({ path: join(dir, 'sim.json'), boot: {} });
    owners = new OwnershipStore({ stateDir: join(dir, 'state'), backend: 'sim', bootId: await port.bootId() });
  });

  /** Namespaces with markers (and the one without) as a node could hold them. */
  async function node(recs: OwnerRecord[], bare: string[] = []): Promise<void> {
    for (const r of recs) {
      if (r.state === 'ready') await port.createNamespace(r.namespace);
      owners.put({ ...r, identity: await port.namespaceIdentity(r.namespace) });
    }
    for (const ns of bare) await port.createNamespace(ns);
  }
  const gone = (uids: string[]) => (rec: OwnerRecord): Liveness => (uids.includes(rec.podKey.slice(4)) ? { live: false, why: 'its pod is gone' } : { live: true });

  const cases: { name: string; recs: OwnerRecord[]; isLive: (r: OwnerRecord) => Liveness; removed: [string, string][]; left: string[] }[] = [
    { name: 'a namespace whose holder is gone goes; a live one stays', recs: [marker('dead'), marker('alive')], isLive: gone(['dead-uid']), removed: [['dead', 'its pod is gone']], left: ['alive'] },
    { name: 'the marker decides without --node: no reference left is dead', recs: [marker('empty', { refs: [] }), marker('held')], isLive: livenessFromMarker, removed: [['empty', 'no container holds a reference any more']], left: ['held'] },
    { name: 'a marker still "creating" was left by a crash: dead whatever isLive says', recs: [marker('half', { state: 'creating' })], isLive: () => ({ live: true }), removed: [['half', 'its creation never finished (a crash between the marker and the mkdir)']], left: [] },
    { name: 'a reference whose container init has exited holds nothing (no Kubernetes: pid and start time)', recs: [marker('exited', { holders: { c1: { pid: 2 ** 22 + 1, start: '1', pidns: ownPidNamespace() } } }), marker('running', { holders: { c1: { pid: process.pid, start: procStartTime(process.pid)!, pidns: ownPidNamespace() } } })], isLive: livenessFromMarker, removed: [['exited', `every container that held it has exited (c1: pid ${2 ** 22 + 1})`]], left: ['running'] },
    { name: 'a pid that was reused by another process (another start time) holds nothing', recs: [marker('reused', { holders: { c1: { pid: process.pid, start: '1', pidns: ownPidNamespace() } } })], isLive: livenessFromMarker, removed: [['reused', `every container that held it has exited (c1: pid ${process.pid})`]], left: [] },
    { name: 'a holder seen from another pid namespace cannot be judged: live', recs: [marker('elsewhere', { holders: { c1: { pid: 2 ** 22 + 1, start: '1', pidns: 'pid:[1]' } } })], isLive: livenessFromMarker, removed: [], left: ['elsewhere'] },
    { name: 'a ready marker whose namespace is not the one lsmns made (same name, made again) drops only the marker', recs: [marker('remade', { refs: [] })], isLive: livenessFromMarker, removed: [], left: [] },
    { name: 'all live: nothing goes', recs: [marker('a'), marker('b')], isLive: () => ({ live: true }), removed: [], left: ['a', 'b'] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await node(c.recs, ['foreign']);
      if (c.name.includes('made again')) {
        await port.removeNamespace('remade');
        await port.createNamespace('remade');
        c.left.push('remade');
      }
      const r = await collectOrphans({ owners, port, isLive: c.isLive, now: () => T0 + 120_000, graceMs: 60_000 });
      assert.deepEqual(r.removed.map((x) => [x.namespace, x.why]), c.removed);
      assert.deepEqual((await port.listNamespaces()).sort(), [...c.left, 'foreign'].sort(), 'a namespace without an lsmns marker is never touched');
      assert.deepEqual(owners.list().map((x) => x.namespace).sort(), c.left.filter((n) => n !== 'remade'));
    });
  }

  it('a "creating" marker goes, but a namespace of its name that someone else made after the crash stays', async () => {
    await node([marker('half', { state: 'creating' })], ['half']);
    const r = await collectOrphans({ owners, port, isLive: () => ({ live: true }), now: () => T0 + 120_000, graceMs: 60_000 });
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.unproven.map((x) => x.namespace), ['half'], 'the marker is collected, the namespace is reported');
    assert.deepEqual(owners.list(), []);
    assert.deepEqual(await port.listNamespaces(), ['half'], 'a half-made marker never removes a namespace');
  });

  it('the grace: from the marker\'s creation in one run, from the first sight of death across runs', async () => {
    await node([marker('dead')]);
    const isLive = gone(['dead-uid']);
    let now = T0 + 10_000;
    const once = () => collectOrphans({ owners, port, isLive, now: () => now, graceMs: 60_000 });
    assert.deepEqual((await once()).waiting.map((x) => x.namespace), ['dead'], 'younger than the grace');
    const deadSince = new Map<string, number>();
    const again = () => collectOrphans({ owners, port, isLive, now: () => now, graceMs: 60_000, deadSince });
    now = T0 + 600_000;
    assert.deepEqual((await again()).removed, [], 'first seen dead now');
    now += 59_999;
    assert.deepEqual((await again()).removed, []);
    now += 1;
    assert.deepEqual((await again()).removed.map((x) => x.namespace), ['dead']);
    assert.deepEqual(await port.listNamespaces(), []);
    assert.equal(deadSince.size, 0);
  });

  it('a namespace that came back to life before the grace ended is kept, and its clock restarts', async () => {
    await node([marker('flaky')]);
    let dead = true;
    const deadSince = new Map<string, number>();
    let now = T0;
    const run = () => collectOrphans({ owners, port, isLive: () => (dead ? { live: false, why: 'gone' } : { live: true }), now: () => now, graceMs: 1_000, deadSince });
    await run();
    dead = false;
    now += 2_000;
    assert.deepEqual((await run()).removed, []);
    dead = true;
    assert.deepEqual((await run()).removed, [], 'dead again: the grace starts over');
    assert.ok(await port.namespaceExists('flaky'));
  });

  it('a marker reused under the lock (another pod took the name) is not removed', async () => {
    await node([marker('taken')]);
    let calls = 0;
    // The first look says dead; by the time the lock is held, a new pod owns the name.
    const isLive = (rec: OwnerRecord): Liveness => {
      if (calls++ === 0) { owners.put(marker('taken', { podKey: 'uid:new-pod', createdAt: new Date(T0 + 1).toISOString() })); return { live: false, why: 'gone' }; }
      return rec.podKey === 'uid:new-pod' ? { live: true } : { live: false, why: 'gone' };
    };
    const r = await collectOrphans({ owners, port, isLive, now: () => T0 + 120_000, graceMs: 0 });
    assert.deepEqual(r.removed, []);
    assert.ok(await port.namespaceExists('taken'));
    assert.equal(owners.get('taken')!.podKey, 'uid:new-pod');
  });

  it('never touches a namespace of another boot: that boot\'s marker files go, this boot\'s namespace of the same name stays', async () => {
    await port.createNamespace('old');
    const oldBoot = join(owners.root, 'sim-00000000-0000-4000-8000-000000000000');
    const otherBackend = join(owners.root, `securityfs-${await port.bootId()}`);
    for (const d of [oldBoot, otherBackend]) { mkdirSync(d, { recursive: true }); writeFileSync(join(d, 'old.json'), JSON.stringify(marker('old', { refs: [] }))); }
    const r = await collectOrphans({ owners, port, isLive: livenessFromMarker, now: () => T0 + 120_000, graceMs: 0 });
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.staleBootDirs, [oldBoot]);
    assert.equal(existsSync(oldBoot), false);
    assert.ok(existsSync(join(otherBackend, 'old.json')), 'markers of another backend belong to it');
    assert.ok(await port.namespaceExists('old'));
  });
  it('a removal that fails is reported and tried again later; the others still go', async () => {
    await node([marker('stuck', { refs: [] }), marker('loose', { refs: [] })]);
    const refusing = Object.create(port) as SimKernel;
    refusing.removeNamespace = async (ns: string) => {
      if (ns === 'stuck') throw kernelError('removeNamespace', ns, 'EACCES');
      return port.removeNamespace(ns);
    };
    const r = await collectOrphans({ owners, port: refusing, isLive: livenessFromMarker, now: () => T0 + 120_000, graceMs: 0 });
    assert.deepEqual(r.removed.map((x) => x.namespace), ['loose']);
    assert.deepEqual(r.failed.map((x) => [x.namespace, x.error]), [['stuck', kernelError('removeNamespace', 'stuck', 'EACCES').message]]);
    assert.ok(owners.get('stuck'), 'its marker stays for the next run');
    assert.deepEqual((await collectOrphans({ owners, port, isLive: livenessFromMarker, now: () => T0 + 120_000, graceMs: 0 })).removed.map((x) => x.namespace), ['stuck']);
  });
});
