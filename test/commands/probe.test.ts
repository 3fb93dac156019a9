import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, lsmns } from './cli.js';

describe('lsmns probe', function () {
  this.timeout(60_000);

  it('prints the sim\'s facts as JSON that --node-facts reads back, without creating the sim state', () => {
    const e = cliEnv();
    lsmns(e, ['sim', 'reset', '--lsm', 'lockdown,capability,landlock,yama,apparmor,bpf,ipe,ima,evm', '--kernel', '6.12.117+deb12-amd64']);
    const r = lsmns(e, ['probe', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.probe, { backend: 'sim', where: `sim:${e.sim}` });
    assert.deepEqual([j.kernel.release, j.lsms.at(-1), j.syscalls.lsmSelfAttr, j.attr.display], ['6.12.117+deb12-amd64', 'evm', true, null]);
    const facts = join(e.dir, 'facts.json');
    writeFileSync(facts, r.stdout);
    const plan = lsmns(e, ['plan', '--pod', '-', '--node-facts', facts, '--output', 'json'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'team-a', uid: '7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f', annotations: {} }, spec: { containers: [{ name: 'c' }] } }));
    assert.equal(plan.code, 0, plan.stderr);
  });

  it('with --backend securityfs at a path without AppArmor says so in text', () => {
    const e = cliEnv();
    const r = lsmns(e, ['probe', '--backend', 'securityfs', '--securityfs', e.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Node facts from securityfs /);
    assert.match(r.stdout, /securityfs +not mounted/);
    assert.match(r.stdout, /AppArmor +not enabled/);
    assert.match(r.stdout, /note +syscall probe: /);
  });
});
