import assert from 'node:assert/strict';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import { errnoOf, fileBytes, freshSim, policy, PROFILE_P } from './helpers.js';

describe('kernel/sim/port', () => {
  describe('namespaces', () => {
    it('creates, lists and removes, with the kernel\'s errnos', async () => {
      const k = freshSim();
      assert.equal(await errnoOf(k.createNamespace('a')), 'ok');
      assert.equal(await errnoOf(k.createNamespace('a')), 'EEXIST');
      assert.equal(await errnoOf(k.createNamespace('missing//child')), 'ENOENT');
      assert.equal(await errnoOf(k.createNamespace('a//child')), 'ok');
      assert.deepEqual(await k.listNamespaces(), ['a']);
      assert.deepEqual(await k.listNamespaces('a'), ['child']);
      assert.equal(await errnoOf(k.removeNamespace('a')), 'ok', 'rmdir is recursive');
      assert.equal(await errnoOf(k.removeNamespace('a')), 'ENOENT');
      assert.deepEqual(await k.listNamespaces(), []);
    });

    it('nests to the depth limit: ENOSPC when the parent is deeper than MAX_NS_DEPTH (32)', async () => {
      const k = freshSim();
      const path: string[] = [];
      for (let level = 1; level <= 33; level++) {
        path.push(`n${level}`);
        assert.equal(await errnoOf(k.createNamespace(path.join('//'))), 'ok', `level ${level}`);
      }
      assert.equal(await errnoOf(k.createNamespace([...path, 'n34'].join('//'))), 'ENOSPC');
    });

    it('refuses a caller without CAP_MAC_ADMIN with EACCES', async () => {
      const root = freshSim();
      const t = await root.spawnTask({ comm: 'unpriv' });
      await root.store.mutate((s) => { s.tasks[String(t.pid)]!.caps = []; });
      const k = new SimKernel({ path: root.store.path, selfPid: t.pid });
      assert.equal(await errnoOf(k.createNamespace('x')), 'EACCES');
      assert.equal((await k.probe()).apparmor.policyAdmin, false);
    });

    it('refuses everything when AppArmor is not active', async () => {
      const k = freshSim({ lsm: 'lockdown,capability,landlock,bpf', kernel: '6.18.0' });
      assert.equal(await errnoOf(k.createNamespace('x')), 'ENOENT');
      assert.equal((await k.probe()).apparmor.enabled, false);
    });

    it('gives each namespace a 64-bit id and never wraps', async () => {
      const k = freshSim();
      await k.store.mutate((s) => { s.nextNsId = ((1n << 64n) - 1n).toString(); });
      assert.equal(await errnoOf(k.createNamespace('last')), 'ok');
      assert.equal(k.store.read().root.children.last!.id, '18446744073709551615');
      const before = fileBytes(k.store.path);
      assert.equal(await errnoOf(k.createNamespace('one-more')), 'EOVERFLOW');
      assert.equal(fileBytes(k.store.path), before, 'the failed creation left nothing behind');
    });
  });

  describe('policy', () => {
    it('loads into a namespace with replace semantics and lists as the kernel does', async () => {
      const k = freshSim();
      await k.createNamespace('testns');
      assert.deepEqual(await k.loadPolicy('testns', policy(PROFILE_P)), ['p']);
      assert.deepEqual(await k.loadPolicy('testns', policy(PROFILE_P.replace('/secret', '/other'))), ['p'], 'replace succeeds');
      assert.deepEqual(await k.listProfiles('testns'), ['p']);
      assert.deepEqual(await k.profilesListing(), [':testns:p (enforce)']);
      assert.equal(await errnoOf(k.loadPolicy('nons', policy(PROFILE_P))), 'ENOENT');
    });
    it('refuses a namespaced profile name at load (EACCES; the executor\'s tenant lint refuses it before)', async () => {
      const k = freshSim();
      await k.createNamespace('ns');
      assert.equal(await errnoOf(k.loadPolicy('ns', policy('profile :other:evil { /** r, }'))), 'EACCES');
      assert.deepEqual(await k.listNamespaces(), ['ns']);
      assert.deepEqual(await k.listProfiles('ns'), []);
    });
  });

  describe('tasks and transitions (KERNEL-FACTS Part A)', () => {
    async function loaded() {
      const k = freshSim();
      await k.createNamespace('testns');
      await k.loadPolicy('testns', policy(PROFILE_P));
      await k.createNamespace('root-profiles-are-not-here');
      return k;
    }
    const cases = [
      { label: ':testns:p', want: ':testns:p (enforce)' },
      { label: '&:testns:p', want: 'unconfined//&:testns:p (enforce)' },
      { label: '&:testns:unconfined', want: 'unconfined//&:testns:unconfined' },
    ];
    for (const tc of cases) {
      it(`exec ${tc.label} from unconfined reads ${tc.want}`, async () => {
        const k = await loaded();
        const t = await k.spawnTask({ comm: 'sh', execLabel: tc.label });
        assert.equal(t.label, tc.want);
        assert.equal(await k.readTaskLabel(t.pid), tc.want);
      });
    }
    it('stacks under a root-namespace profile: outer//&:testns:p', async () => {
      const k = await loaded();
      // Load a root-namespace profile "outer" through the model (the port loads only into namespaces).
      const { loadPolicyInto } = await import('../../../src/kernel/sim/model.js');
      const { lintPolicy } = await import('../../../src/policy/lint.js');
      await k.store.mutate((s) => loadPolicyInto(s, 1, '', lintPolicy('profile outer { /** mrwlkix, change_profile, }', 'test', { as: 'host', includeDirs: [] }), 'd', 'replace'));
      const t = await k.spawnTask({ comm: 'sh', execLabel: 'outer//&:testns:p' });
      assert.equal(t.label, 'outer//&:testns:p (enforce)');
    });
    const bad = [
      { name: 'a missing namespace', label: ':nons:x', errno: 'ENOENT' },
      { name: 'a missing profile', label: ':testns:missing', errno: 'ENOENT' },
      { name: 'a stacked missing namespace', label: '&:nons:x', errno: 'ENOENT' },
      { name: 'a malformed label', label: ':testns', errno: 'EINVAL' },
    ];
    for (const tc of bad) {
      it(`refuses ${tc.name} with ${tc.errno} at write time`, async () => {
        const k = await loaded();
        assert.equal(await errnoOf(k.spawnTask({ comm: 'sh', execLabel: tc.label })), tc.errno);
      });
    }
    it('refuses a bogus command with EINVAL', async () => {
      const k = await loaded();
      assert.equal(await errnoOf(k.writeTaskAttr('self', 'apparmor/exec', 'bogus')), 'EINVAL');
    });
    it('refuses a write to another task\'s attr with EPERM, even as root', async () => {
      const k = await loaded();
      const t = await k.spawnTask({ comm: 'sleep' });
      for (const attr of ['exec', 'apparmor/exec', 'current'] as const) {
        assert.equal(await errnoOf(k.writeTaskAttr(t.pid, attr, 'exec :testns:p')), 'EPERM', attr);
      }
    });
    it('rmdir succeeds with a task inside, which then reads :ns:unconfined', async () => {
      const k = freshSim();
      await k.createNamespace('busyns');
      await k.loadPolicy('busyns', policy(PROFILE_P));
      const t = await k.spawnTask({ comm: 'sleep', execLabel: ':busyns:p' });
      assert.equal(await errnoOf(k.removeNamespace('busyns')), 'ok');
      assert.equal(await k.readTaskLabel(t.pid), ':busyns:unconfined');
    });
    // The two behaviours below were corrected after the fidelity suite compared the sim with 6.1 and 6.12.
    it('rmdir changes only labels whose first profile is in the namespace: a stacked outer//&:ns:p stays', async () => {
      const k = freshSim();
      await k.loadPolicy('', policy('profile outer { /** mrwlkix, }'));
      for (const ns of ['busy', 'busy2']) {
        await k.createNamespace(ns);
        await k.loadPolicy(ns, policy(PROFILE_P));
      }
      const inNs = await k.spawnTask({ comm: 'sleep', execLabel: ':busy2:p' });
      const stacked = await k.spawnTask({ comm: 'sleep', execLabel: 'outer//&:busy:p' });
      const onUnconfined = await k.spawnTask({ comm: 'sleep', execLabel: '&:busy:p' });
      await k.removeNamespace('busy');
      await k.removeNamespace('busy2');
      assert.equal(await k.readTaskLabel(stacked.pid), 'outer//&:busy:p (enforce)');
      assert.equal(await k.readTaskLabel(onUnconfined.pid), 'unconfined//&:busy:p (enforce)');
      assert.equal(await k.readTaskLabel(inNs.pid), ':busy2:unconfined');
    });
    it('resolves a bare name after :ns: in that namespace: :testns:p//&outer is ENOENT without testns//outer', async () => {
      const k = await loaded();
      await k.loadPolicy('', policy('profile outer { /** mrwlkix, }'));
      assert.equal(await errnoOf(k.spawnTask({ comm: 'sh', execLabel: ':testns:p//&outer' })), 'ENOENT');
      assert.equal((await k.spawnTask({ comm: 'sh', execLabel: 'outer//&:testns:p' })).label, 'outer//&:testns:p (enforce)');
    });
    it('has no attr/apparmor before 5.8, and the shared files do not reach AppArmor under SELinux', async () => {
      const old = freshSim({ kernel: '5.4.0' });
      assert.equal(await errnoOf(old.writeTaskAttr('self', 'apparmor/exec', 'exec :x:y')), 'ENOENT');
      const se = freshSim({ lsm: 'capability,selinux' });
      assert.equal(await errnoOf(se.writeTaskAttr('self', 'exec', 'exec :x:y')), 'EINVAL');
    });
    it('uses lsm_set_self_attr only where the kernel has it (6.8+)', async () => {
      for (const [kernel, want] of [['6.1.0', 'ENOSYS'], ['6.12.0', 'ok']] as const) {
        const k = freshSim({ kernel });
        await k.createNamespace('testns');
        await k.loadPolicy('testns', policy(PROFILE_P));
        assert.equal(await errnoOf(k.spawnTask({ comm: 'sh', execLabel: ':testns:p', via: 'syscall' })), want, kernel);
      }
    });
  });

  it('finds the task that runs a container by its id while it lives (the agent\'s Confined check on the sim)', async () => {
    const k = freshSim();
    const a = await k.spawnTask({ comm: 'main', container: 'c0ffee01' });
    await k.spawnTask({ comm: 'other', container: 'c0ffee02' });
    assert.equal(await k.containerTask('c0ffee01'), a.pid);
    assert.equal(await k.containerTask('c0ffee03'), null);
    await k.endTask(a.pid);
    assert.equal(await k.containerTask('c0ffee01'), null);
  });

  describe('the display LSM (B4)', () => {
    it('exists only where the kernel has the interface, is set by the task itself and inherited at fork', async () => {
      const mainline = freshSim();
      assert.equal(await errnoOf(mainline.writeTaskAttr('self', 'display', 'apparmor')), 'ENOENT');
      const ubuntu = freshSim({ lsm: 'capability,smack,apparmor', kernel: '5.4.0', display: 'display' });
      await ubuntu.createNamespace('ns');
      await ubuntu.loadPolicy('ns', policy(PROFILE_P));
      // Without the display LSM the shared attr file reaches Smack, which refuses AppArmor's command.
      assert.equal(await errnoOf(ubuntu.spawnTask({ comm: 'a', execLabel: '&:ns:p' })), 'EINVAL');
      const t = await ubuntu.spawnTask({ comm: 'b', execLabel: '&:ns:p', display: 'apparmor' });
      assert.equal(t.label, 'unconfined//&:ns:p (enforce)');
      const { spawn } = await import('../../../src/kernel/sim/model.js');
      const child = await ubuntu.store.mutate((s) => spawn(s, t.pid, 'child'));
      assert.equal(child.display, 'apparmor');
    });
  });
});
