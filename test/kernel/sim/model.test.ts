import assert from 'node:assert/strict';
import { bootSim, exec, lsmUnshare, mkdirNs, loadPolicyInto, spawn, writeAttr, findNs, type SimState } from '../../../src/kernel/sim/model.js';
import { lintPolicy } from '../../../src/policy/lint.js';

const parsePolicy = (text: string) => lintPolicy(text, 'test', { as: 'host', includeDirs: [] });
import { renderLabel } from '../../../src/kernel/label.js';
import { LsmnsError } from '../../../src/errors.js';

function boot(): SimState {
  const s = bootSim({ lsm: 'lockdown,capability,landlock,yama,apparmor,bpf', kernel: '6.1.0' }, 'test-boot');
  mkdirNs(s, 1, 'ns');
  loadPolicyInto(s, 1, 'ns', parsePolicy('profile p { /** mrwlkix, }'), 'd1', 'replace');
  loadPolicyInto(s, 1, '', parsePolicy('profile outer { /** mrwlkix, change_profile, }\nprofile locked { /** mrwlkix, }'), 'd2', 'replace');
  return s;
}

function errno(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof LsmnsError ? e.errno ?? e.code : 'thrown';
  }
}

/** A task that execs into `label` first, then returns its pid. */
function confined(s: SimState, label: string): number {
  const t = spawn(s, 1, 'sh');
  writeAttr(s, t.pid, t.pid, 'apparmor/exec', `exec ${label}`);
  exec(s, t.pid, 'sh');
  return t.pid;
}

describe('kernel/sim/model', () => {
  it('a pending exec label survives fork, as Node\'s writeFileSync + spawnSync showed (Part A)', () => {
    const s = boot();
    const parent = spawn(s, 1, 'node');
    writeAttr(s, parent.pid, parent.pid, 'apparmor/exec', 'exec :ns:p');
    const child = spawn(s, parent.pid, 'sh');
    exec(s, child.pid, 'sh');
    assert.equal(renderLabel(s.tasks[String(child.pid)]!.label, []), ':ns:p (enforce)');
  });

  it('a confined task needs change_profile to leave, stacking included (B3)', () => {
    const s = boot();
    const locked = confined(s, 'locked');
    assert.equal(errno(() => writeAttr(s, locked, locked, 'apparmor/exec', 'exec &:ns:p')), 'EACCES');
    const outer = confined(s, 'outer');
    assert.equal(errno(() => writeAttr(s, outer, outer, 'apparmor/exec', 'exec :ns:p')), 'ok');
  });

  it('no_new_privs allows stacking but not replacing a confined label (4.17 post_nnp_subset)', () => {
    const s = boot();
    const a = confined(s, 'outer');
    s.tasks[String(a)]!.nnp = true;
    writeAttr(s, a, a, 'apparmor/exec', 'exec :ns:p');
    assert.equal(errno(() => exec(s, a, 'sh')), 'EPERM');
    writeAttr(s, a, a, 'apparmor/exec', 'exec &:ns:p');
    assert.equal(errno(() => exec(s, a, 'sh')), 'ok');
    assert.equal(renderLabel(s.tasks[String(a)]!.label, []), 'outer//&:ns:p (enforce)');
  });

  describe('namespace creation: permission phase, then transition phase', () => {
    it('any active LSM may deny in the permission phase, and nothing changes', () => {
      const s = boot();
      s.denials.push({ lsm: 'landlock', op: 'nsCreate', errno: 'EPERM' });
      const before = JSON.stringify(s);
      assert.equal(errno(() => mkdirNs(s, 1, 'x')), 'EPERM');
      assert.equal(JSON.stringify(s), before);
    });
    it('a denial from an LSM that is not active does not apply', () => {
      const s = boot();
      s.denials.push({ lsm: 'selinux', op: 'nsCreate', errno: 'EPERM' });
      assert.equal(errno(() => mkdirNs(s, 1, 'x')), 'ok');
    });
    it('a failed transition unwinds: no namespace and no id are left', () => {
      const s = boot();
      s.faults.push({ op: 'nsCreate', target: 'x', errno: 'ENOMEM', remaining: 1 });
      const nextId = s.nextNsId;
      assert.equal(errno(() => mkdirNs(s, 1, 'x')), 'ENOMEM');
      assert.equal(findNs(s, ['x']), null);
      assert.equal(s.nextNsId, nextId);
      assert.equal(errno(() => mkdirNs(s, 1, 'x')), 'ok', 'the fault was used up');
    });
    it('lsm_unshare (model of the proposal) unwinds the AppArmor part when a later LSM fails', () => {
      const s = boot();
      const t = spawn(s, 1, 'sh');
      s.faults.push({ op: 'unshare', target: 'landlock', errno: 'ENOMEM' });
      const label = JSON.stringify(t.label);
      const namespaces = Object.keys(s.root.children).join();
      assert.equal(errno(() => lsmUnshare(s, t.pid, ['apparmor', 'landlock'])), 'ENOMEM');
      assert.equal(JSON.stringify(s.tasks[String(t.pid)]!.label), label);
      assert.equal(Object.keys(s.root.children).join(), namespaces);
      s.faults = [];
      const ns = lsmUnshare(s, t.pid, ['apparmor', 'landlock']);
      assert.equal(renderLabel(s.tasks[String(t.pid)]!.label, []), `unconfined//&:${ns}:unconfined`);
    });
  });
});
