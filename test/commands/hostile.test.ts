import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, lsmns, podJson } from './cli.js';

// SPEC §1: annotation values reach kernel paths and /proc writes. Each hostile value must exit 2, name its key,
// and leave the simulated kernel's state file byte for byte as it was.
const HOSTILE: [string, string][] = [
  ['path traversal', '../../etc'],
  ['colon', 'tenant:root'],
  ['double slash', 'a//b'],
  ['ampersand', 'a&b'],
  ['newline', 'web\nexec :root:unconfined'],
  ['NUL', 'a\u0000b'],
  ['whitespace', 'a b'],
  ['non-ASCII', 'tenänt'],
  ['empty', ''],
  ['over-long', `a${'b'.repeat(250)}`],
  ['slash', 'a/b'],
];
const KEYS = ['lsmns.io/apparmor-namespace', 'lsmns.io/apparmor-profile', 'lsmns.io/host-profile', 'lsmns.io/apparmor-policy', 'container.lsmns.io/web'];
const BASE = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };

describe('hostile annotations (exit 2, key named, sim unchanged)', function () {
  this.timeout(120_000);
  const e = cliEnv();
  let seeded = "";
  before(() => {
    // A sim with something in it, so that "unchanged" means something.
    writeFileSync(join(e.dir, 'seed.json'), podJson({ ...BASE, 'lsmns.io/apparmor-namespace': 'seed' }, { metadata: { name: 'seed', namespace: 'team-a', uid: 'seed', annotations: { ...BASE, 'lsmns.io/apparmor-namespace': 'seed' } } }));
    const r = lsmns(e, ['apply', '--pod', join(e.dir, 'seed.json')]);
    assert.equal(r.code, 0, r.stderr);
    seeded = readFileSync(e.sim, 'latin1');
  });

  for (const key of KEYS) {
    for (const [name, value] of HOSTILE) {
      it(`${key} with ${name}`, () => {
        if (key === 'lsmns.io/apparmor-policy' && name === 'slash') return; // a/b names another namespace's policy: its own case below
        const ann = { ...BASE, [key]: value };
        const f = join(e.dir, 'pod.json');
        writeFileSync(f, podJson(ann));
        for (const cmd of ['apply']) {
          const r = lsmns(e, [cmd, '--pod', f]);
          assert.equal(r.code, 2, `${cmd}: ${r.stdout}${r.stderr}`);
          assert.ok((r.stdout + r.stderr).includes(key), `${cmd} names ${key}`);
        }
        // The same annotation arriving through an OCI bundle.
        const b = join(e.dir, 'bundle');
        mkdirSync(b, { recursive: true });
        writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: {}, annotations: ann }));
        const r = lsmns(e, ['apply', '--bundle', b, '--output', 'json']);
        assert.equal(r.code, 2, r.stdout);
        assert.equal(JSON.parse(r.stdout).code, 'InvalidAnnotation');
        assert.equal(readFileSync(e.sim, "latin1"), seeded, 'sim state unchanged');
      });
    }
  }
  it('a policy from another namespace is refused', () => {
    writeFileSync(join(e.dir, 'pod.json'), podJson({ ...BASE, 'lsmns.io/apparmor-policy': 'team-b/web' }));
    const r = lsmns(e, ['apply', '--pod', join(e.dir, 'pod.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lsmns\.io\/apparmor-policy="team-b\/web": a policy is NAME/);
    assert.equal(readFileSync(e.sim, "latin1"), seeded);
  });
});
