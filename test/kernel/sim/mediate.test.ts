import assert from 'node:assert/strict';
import { checkAccess, renderAccessText } from '../../../src/kernel/sim/mediate.js';
import { loadPolicyInto } from '../../../src/kernel/sim/model.js';
import { lintPolicy } from '../../../src/policy/lint.js';

const parsePolicy = (text: string) => lintPolicy(text, 'test', { as: 'host', includeDirs: [] });
import { freshSim, policy } from './helpers.js';

// A host profile in the root namespace and a tenant profile in a policy namespace, stacked as lsmns stacks them.
const HOST = 'profile host {\n  file,\n  change_profile,\n  deny /proc/sys/[^k]** w,\n  deny /secret r,\n}\n';
const TENANT = 'profile p {\n  /** r,\n  /proc/sys/** w,\n  owner /home/** w,\n  deny /etc/shadow r,\n}\nprofile q flags=(complain) {\n  /** r,\n}\n';

async function stacked(label: string): Promise<{ state: ReturnType<ReturnType<typeof freshSim>['store']['read']>; pid: number }> {
  const k = freshSim({ lsm: 'capability,apparmor' });
  await k.createNamespace('testns');
  await k.loadPolicy('testns', policy(TENANT));
  await k.store.mutate((s) => loadPolicyInto(s, 1, '', parsePolicy(HOST), 'd', 'replace'));
  const t = await k.spawnTask({ comm: 'app', execLabel: label });
  return { state: k.store.read(), pid: t.pid };
}

describe('kernel/sim/mediate', () => {
  // label, path, perm, task owns the file, allowed, the layer that refused (null: none)
  const CASES: [string, string, string, boolean, boolean, string | null][] = [
    ['host//&:testns:p', '/etc/hosts', 'r', false, true, null],
    ['host//&:testns:p', '/proc/sys/net/ipv4/ip_forward', 'w', false, false, 'host'],
    ['host//&:testns:p', '/proc/sys/kernel/shmmax', 'w', false, true, null],
    ['host//&:testns:p', '/etc/shadow', 'r', false, false, ':testns:p'],
    ['host//&:testns:p', '/secret', 'r', false, false, 'host'],
    ['host//&:testns:p', '/tmp/x', 'w', false, false, ':testns:p'],
    ['host//&:testns:p', '/home/u/f', 'w', true, true, null],
    ['host//&:testns:p', '/home/u/f', 'w', false, false, ':testns:p'],
    ['&:testns:p', '/secret', 'r', false, true, null],
    ['host//&:testns:q', '/tmp/x', 'w', false, true, null],
  ];
  for (const [label, path, perm, owner, allowed, by] of CASES) {
    it(`${label}: ${perm} on ${path}${owner ? ' (owner)' : ''} is ${allowed ? 'allowed' : `denied by ${by}`}`, async () => {
      const { state, pid } = await stacked(label);
      const d = checkAccess(state, pid, path, perm, { owner });
      assert.equal(d.allowed, allowed, renderAccessText(d));
      assert.equal(d.allowed ? null : d.decidedBy!.label, by);
      // A stack on unconfined keeps unconfined as its first layer.
      assert.equal(d.layers.length, label.startsWith('&') ? 2 : label.split('//&').length);
    });
  }

  it('names the deciding rule and says when complain mode let an access through', async () => {
    const { state, pid } = await stacked('host//&:testns:q');
    const d = checkAccess(state, pid, '/tmp/x', 'w');
    assert.deepEqual(d.layers.map((l) => [l.label, l.verdict]), [['host', 'allow'], [':testns:q', 'complain']]);
    const host = checkAccess(state, pid, '/secret', 'r').layers[0]!;
    assert.deepEqual([host.verdict, host.rule], ['deny', { text: 'deny /secret r', where: 'rule 4' }]);
  });

  it('refuses bad input', async () => {
    const { state, pid } = await stacked('host//&:testns:p');
    assert.throws(() => checkAccess(state, pid, '/x', 'q'), /not a file permission/);
    assert.throws(() => checkAccess(state, pid, 'x', 'r'), /not absolute/);
    assert.throws(() => checkAccess(state, 9999, '/x', 'r'), /no task 9999/);
  });
});
