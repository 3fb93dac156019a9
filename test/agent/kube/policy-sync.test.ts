import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownedPolicies } from '../../../src/agent/kube/policy-sync.js';
import { digestOf } from '../../../src/policy/store.js';
import { podObj } from '../../kube/helpers.js';
import { waitFor } from '../../support/wait.js';
import { nodeHarness } from './helpers.js';

describe('agent/kube/policy-sync', () => {
  const h = nodeHarness();

  it('syncs only referenced policies, each from the pod\'s own namespace or lsmns-system (cluster/)', async () => {
    const cm = (ns: string, name: string, data: Record<string, string>) => h.srv.put('configmaps', { metadata: { name, namespace: ns, labels: { 'lsmns.io/policy': 'true' } }, data });
    cm('team-a', 'web-policy', { 'web.aa': 'profile web { # team-a\n}\n' });
    cm('team-b', 'web-policy', { 'web.aa': 'profile web { # team-b\n}\n', 'unused.aa': 'x' });
    cm('team-a', 'fake-baseline', { 'baseline.aa': 'profile baseline { # forged by team-a\n}\n' });
    cm('lsmns-system', 'baseline', { 'baseline.aa': 'profile baseline { # cluster\n}\n' });
    h.srv.put('configmaps', { metadata: { name: 'unlabelled', namespace: 'team-c' }, data: { 'web.aa': 'profile web { # not published\n}\n' } });
    h.srv.put('pods', podObj('team-a', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'ta', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }));
    h.srv.put('pods', podObj('team-a', 'base', { annotations: { 'lsmns.io/apparmor-namespace': 'tb', 'lsmns.io/apparmor-profile': 'baseline', 'lsmns.io/apparmor-policy': 'cluster/baseline' } }));
    h.srv.put('pods', podObj('team-c', 'web', { annotations: { 'lsmns.io/apparmor-namespace': 'tc', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' } }));
    h.srv.put('pods', podObj('team-b', 'elsewhere', { node: 'node-b', annotations: { 'lsmns.io/apparmor-namespace': 'tx', 'lsmns.io/apparmor-policy': 'web' } }));
    await h.startAgent();
    const pd = join(h.dir, 'policies');
    assert.equal(readFileSync(join(pd, 'team-a/web.aa'), 'utf8'), 'profile web { # team-a\n}\n');
    assert.equal(readFileSync(join(pd, 'cluster/baseline.aa'), 'utf8'), 'profile baseline { # cluster\n}\n', 'cluster/ comes from lsmns-system only');
    assert.equal(existsSync(join(pd, 'team-c/web.aa')), false, 'team-c has no published policy: nothing is borrowed from another namespace');
    assert.equal(existsSync(join(pd, 'team-b')), false, 'pods of other nodes bring nothing here');
    assert.deepEqual(h.compiled.map((c) => c.split(' ')[0]).sort(), ['cluster/baseline', 'team-a/web'], 'each synced policy is compiled ahead of the start');
    await h.agent!.syncNow();
    assert.equal(h.compiled.length, 2, 'an unchanged policy is neither rewritten nor recompiled');
    // A policy no local pod references any more is removed; an update is picked up.
    h.srv.remove('pods', 'team-a', 'base');
    cm('team-a', 'web-policy', { 'web.aa': 'profile web { # team-a v2\n}\n' });
    await waitFor(async () => { await h.agent!.syncNow(); return !existsSync(join(pd, 'cluster/baseline.aa')) && readFileSync(join(pd, 'team-a/web.aa'), 'utf8').includes('v2'); }, 'the resync');
  });

  it('a restarted agent removes only its own stale files: an administrator\'s stays, and is never overwritten', async () => {
    const cm = (name: string, data: Record<string, string>) => h.srv.put('configmaps', { metadata: { name, namespace: 'team-a', labels: { 'lsmns.io/policy': 'true' } }, data });
    const pod = (name: string) => h.srv.put('pods', podObj('team-a', name, { annotations: { 'lsmns.io/apparmor-namespace': `t-${name}`, 'lsmns.io/apparmor-profile': name, 'lsmns.io/apparmor-policy': name } }));
    cm('policies', { 'web.aa': 'profile web {}\n', 'old.aa': 'profile old {}\n', 'edited.aa': 'profile edited {}\n', 'mine.aa': 'profile mine { # from the ConfigMap\n}\n' });
    for (const p of ['web', 'old', 'edited']) pod(p);
    await h.startAgent();
    const pd = join(h.dir, 'policies');
    const at = (rel: string) => join(pd, `${rel}.aa`);
    assert.deepEqual(ownedPolicies(pd), ['team-a/edited', 'team-a/old', 'team-a/web']);
    const owner = JSON.parse(readFileSync(`${at('team-a/web')}.lsmns-owner`, 'utf8')) as Record<string, unknown>;
    const rv = h.srv.getObject('configmaps', 'team-a', 'policies')!.metadata.resourceVersion;
    assert.deepEqual(owner, { formatVersion: 1, writtenBy: 'lsmns-agent', node: 'node-a', from: `team-a/policies@${rv}`, digest: digestOf('profile web {}\n'), previousDigest: null });
    await h.stopAgent();

    // While no agent runs: pods go and come, and an administrator adds files and edits one the agent wrote.
    h.srv.remove('pods', 'team-a', 'old');
    h.srv.remove('pods', 'team-a', 'edited');
    pod('mine');
    writeFileSync(at('team-a/edited'), 'profile edited { # tightened by the administrator\n}\n');
    writeFileSync(at('team-a/admin'), 'profile admin {}\n');
    writeFileSync(at('team-a/mine'), 'profile mine { # the administrator\'s\n}\n');
    mkdirSync(join(pd, 'cluster'), { recursive: true });
    writeFileSync(at('cluster/base'), 'profile base {}\n');

    await h.startAgent();
    assert.equal(existsSync(at('team-a/old')), false, 'its own file that no pod references is removed');
    assert.equal(existsSync(`${at('team-a/old')}.lsmns-owner`), false);
    assert.equal(readFileSync(at('team-a/web'), 'utf8'), 'profile web {}\n', 'its own file still referenced stays');
    assert.equal(readFileSync(at('team-a/admin'), 'utf8'), 'profile admin {}\n', 'an administrator\'s file stays');
    assert.equal(readFileSync(at('cluster/base'), 'utf8'), 'profile base {}\n');
    assert.equal(readFileSync(at('team-a/mine'), 'utf8'), 'profile mine { # the administrator\'s\n}\n', 'an administrator\'s file in the way is not overwritten');
    assert.equal(readFileSync(at('team-a/edited'), 'utf8'), 'profile edited { # tightened by the administrator\n}\n', 'a file edited since the agent wrote it is the administrator\'s now');
    assert.deepEqual(ownedPolicies(pd), ['team-a/web']);
    const said = h.logged.map((l) => `${l.level} ${String(l.o.policy)}: ${l.msg}`);
    assert.ok(said.includes('info team-a/old: removed a synced policy that no pod on this node references'), said.join('\n'));
    assert.ok(said.includes('warn team-a/edited: a synced policy was edited since the agent wrote it; left in place as an administrator\'s'), said.join('\n'));
    assert.equal(said.filter((l) => l.startsWith('warn team-a/mine: a policy file the agent did not write')).length, 1, said.join('\n'));
    await h.agent!.syncNow();
    assert.equal(h.logged.filter((l) => l.o.policy === 'team-a/mine').length, 1, 'said once, not on every pass');
  });
});
