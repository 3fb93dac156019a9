import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundle } from '../support/bundle.js';
import { nodeSnapshot } from '../support/state.js';
import { cliEnv, lsmns, podJson } from './cli.js';

// SPEC §1: annotation values reach kernel paths and /proc writes. The whole matrix of hostile values and keys
// is checked where it is decided, in milliseconds: test/schema/annotations.test.ts (the rule named) and
// test/apply/executor.test.ts (nothing changed). These two cases prove that the real CLI wires it up: exit 2,
// the key named, the simulated kernel's state file byte for byte as it was.
const BASE = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web' };

describe('lsmns apply on hostile annotations (exit 2, key named, sim unchanged)', function () {
  this.timeout(60_000);
  const e = cliEnv();
  let seeded = '';
  before(() => {
    // A sim with something in it, so that "unchanged" means something.
    const seed = { ...BASE, 'lsmns.io/apparmor-namespace': 'seed' };
    writeFileSync(join(e.dir, 'seed.json'), podJson(seed, { metadata: { name: 'seed', namespace: 'team-a', uid: 'seed', annotations: seed } }));
    const r = lsmns(e, ['apply', '--pod', join(e.dir, 'seed.json')]);
    assert.equal(r.code, 0, r.stderr);
    seeded = nodeSnapshot(e);
  });

  it('a pod whose profile smuggles a newline and a command', () => {
    const key = 'lsmns.io/apparmor-profile';
    writeFileSync(join(e.dir, 'pod.json'), podJson({ ...BASE, [key]: 'web\nexec :root:unconfined' }));
    const r = lsmns(e, ['apply', '--pod', join(e.dir, 'pod.json')]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /lsmns\.io\/apparmor-profile="web\\nexec :root:unconfined": profile name must be printable ASCII: a newline/);
    assert.equal(nodeSnapshot(e), seeded);
  });

  it('a bundle whose namespace climbs out of its directory', () => {
    const key = 'lsmns.io/apparmor-namespace';
    const r = lsmns(e, ['apply', '--bundle', bundle(e, { ...BASE, [key]: '../../etc' }), '--output', 'json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const err = JSON.parse(r.stdout) as { code: string; problems: { key: string }[] };
    assert.equal(err.code, 'InvalidAnnotation');
    assert.deepEqual(err.problems.map((p) => p.key), [key]);
    assert.equal(nodeSnapshot(e), seeded);
  });
});
