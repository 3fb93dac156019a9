import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, lsmns, podJson } from './cli.js';

const OK = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };

describe('lsmns plan', () => {
  const e = cliEnv();
  const file = (name: string, text: string) => {
    const f = join(e.dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('prints a Terraform-like plan and exits 0', () => {
    const r = lsmns(e, ['plan', '--pod', file('ok.json', podJson(OK))]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /~ transitionRootTask  web: &:tenant-a:web/);
    assert.match(r.stdout, /^Plan: 1 namespace to create, 1 policy to load, 1 container to confine/m);
  });

  it('reads YAML from stdin, multi-document, and a List', () => {
    const yaml = `apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: team-a, uid: u-a, annotations: {lsmns.io/apparmor-namespace: ns-a}}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: List\nitems:\n- {kind: Pod, metadata: {name: b, uid: u-b}, spec: {containers: [{name: c}]}}\n`;
    const r = lsmns(e, ['plan', '--pod', '-', '--output', 'json'], yaml);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.kind, 'PlanList');
    assert.deepEqual(out.items.map((p: { outcome: string }) => p.outcome), ['ready', 'noop']);
  });

  it('exits 3 with blockers on a node without AppArmor', () => {
    const r = lsmns(e, ['plan', '--pod', file('ok2.json', podJson(OK)), '--lsm', 'lockdown,capability,landlock,bpf', '--kernel', '6.18.44']);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /blocker AppArmorNotActive/);
  });

  it('exits 2 on invalid flags, with the flag named', () => {
    const r = lsmns(e, ['plan', '--pod', file('ok3.json', podJson(OK)), '--lsm', 'apparmor,nosuchlsm']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--lsm "apparmor,nosuchlsm": unknown LSM "nosuchlsm"/);
    assert.equal(lsmns(e, ['plan', '--bogus']).code, 2);
    assert.equal(lsmns(e, ['nosuchcommand']).code, 2);
  });

  it('with --output json, an error is a JSON object on stdout that carries its code', () => {
    const r = lsmns(e, ['plan', '--pod', join(e.dir, 'missing.yaml'), '--output', 'json']);
    assert.equal(r.code, 2);
    const err = JSON.parse(r.stdout);
    assert.equal(err.code, 'InvalidInput');
    assert.match(err.message, /cannot read pod/);
  });

  it('plans a bundle from its config.json', () => {
    const b = join(e.dir, 'bundle');
    mkdirSync(b);
    writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { apparmorProfile: 'host-p' }, annotations: OK }));
    const r = lsmns(e, ['plan', '--bundle', b, '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).containers[0].label, 'host-p//&:tenant-a:web');
  });
});
