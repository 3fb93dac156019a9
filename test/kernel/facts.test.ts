import assert from 'node:assert/strict';
import { resolveLsmList, simulatedFacts } from '../../src/kernel/facts.js';
import { LsmnsError } from '../../src/errors.js';

describe('kernel/facts', () => {
  describe('resolveLsmList: the boot rules', () => {
    const cases: { name: string; list: string; active: string }[] = [
      { name: 'Debian with apparmor=1 security=apparmor (Part A)', list: 'lockdown,capability,landlock,yama,apparmor,bpf', active: 'lockdown,capability,landlock,yama,apparmor,bpf' },
      { name: 'lsm=selinux,apparmor,tomoyo boots without AppArmor, TOMOYO stacks (Part A)', list: 'lockdown,capability,selinux,apparmor,tomoyo', active: 'lockdown,capability,selinux,tomoyo' },
      { name: 'the first exclusive major wins', list: 'capability,apparmor,selinux,smack', active: 'capability,apparmor' },
      { name: 'capability is always active', list: 'apparmor', active: 'capability,apparmor' },
      { name: 'lockdown stays ahead of capability', list: 'lockdown,apparmor', active: 'lockdown,capability,apparmor' },
      { name: 'duplicates are dropped, integrity is not listed', list: 'capability,integrity,yama,yama,apparmor', active: 'capability,yama,apparmor' },
      { name: 'the development host (6.18)', list: 'lockdown,capability,landlock,bpf', active: 'lockdown,capability,landlock,bpf' },
    ];
    for (const tc of cases) it(tc.name, () => assert.equal(resolveLsmList(tc.list).active.join(','), tc.active));
    it('says why a major was dropped', () => {
      assert.match(resolveLsmList('capability,selinux,apparmor').dropped[0]!.reason, /selinux is already the exclusive major/);
    });
    it('lets majors stack on kernels with the out-of-tree stacking series', () => {
      assert.equal(resolveLsmList('capability,smack,apparmor', { majorsStack: true }).active.join(','), 'capability,smack,apparmor');
    });
    for (const bad of ['', 'apparmor,evilsm', 'apparmor;selinux', 'app armor']) {
      it(`refuses ${JSON.stringify(bad)} with exit 2`, () => {
        assert.throws(() => resolveLsmList(bad), (e: unknown) => e instanceof LsmnsError && e.exitCode === 2 && /--lsm/.test(e.message));
      });
    }
  });

  describe('simulatedFacts', () => {
    const cases = [
      { kernel: '5.4.0', apparmorDir: false, syscalls: false },
      { kernel: '5.8.0', apparmorDir: true, syscalls: false },
      { kernel: '6.1.0-56-amd64', apparmorDir: true, syscalls: false },
      { kernel: '6.12.117+deb12-amd64', apparmorDir: true, syscalls: true },
    ];
    for (const tc of cases) {
      it(`kernel ${tc.kernel}: attr/apparmor ${tc.apparmorDir}, LSM syscalls ${tc.syscalls}`, () => {
        const f = simulatedFacts({ lsm: 'capability,apparmor', kernel: tc.kernel });
        assert.equal(f.attr.apparmorDir, tc.apparmorDir);
        assert.equal(f.syscalls.lsmSelfAttr, tc.syscalls);
        assert.equal(f.attr.sharedLsm, 'apparmor');
      });
    }
    it('refuses a release that does not parse', () => assert.throws(() => simulatedFacts({ lsm: 'apparmor', kernel: 'latest' }), /--kernel "latest"/));
  });
});
