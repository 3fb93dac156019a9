import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmnsError } from '../../src/errors.js';
import { FilePolicyStore, MAX_POLICY_BYTES, policyPath } from '../../src/policy/store.js';
import { PROFILE_P, tempDir } from '../kernel/sim/helpers.js';
import type { PolicyRef } from '../../src/plan/types.js';

describe('policy/store', () => {
  const cases: [PolicyRef, string][] = [
    [{ policy: 'web', scope: 'pod-namespace', podNamespace: 'team-a' }, '/etc/lsmns/policies/team-a/web.aa'],
    [{ policy: 'web', scope: 'pod-namespace', podNamespace: null }, '/etc/lsmns/policies/web.aa'],
    [{ policy: 'cluster/baseline', scope: 'cluster', podNamespace: null }, '/etc/lsmns/policies/cluster/baseline.aa'],
    [{ policy: 'cluster/baseline', scope: 'cluster', podNamespace: 'team-a' }, '/etc/lsmns/policies/cluster/baseline.aa'],
  ];
  for (const [ref, want] of cases) it(`${ref.policy} in ${ref.podNamespace ?? '(no namespace)'} -> ${want}`, () => assert.equal(policyPath(ref, '/etc/lsmns/policies/'), want));
});

describe('policy/store readPolicy: hostile files (issue 16, finding 8)', () => {
  const SECRET = 'root:$6$s3cr3t-hash:19000:0:99999:7:::';
  const ref = { policy: 'web', scope: 'pod-namespace', podNamespace: 'team-a' } as const;
  function store() {
    const dir = tempDir('lsmns-store-');
    const policies = join(dir, 'policies');
    mkdirSync(join(policies, 'team-a'), { recursive: true });
    writeFileSync(join(dir, 'shadow'), `${SECRET}\n`);
    return { dir, policies, file: join(policies, 'team-a', 'web.aa'), s: new FilePolicyStore(policies) };
  }
  const refusal = async (s: FilePolicyStore) => {
    const t0 = Date.now();
    const err = await s.read(ref, { waitMs: 0 }).then(() => null, (x: unknown) => x);
    assert.ok(err instanceof LsmnsError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(Date.now() - t0 < 5000, 'refused at once');
    return err;
  };

  it('refuses a symlink out of the store, and never quotes the file it points at', async () => {
    const { dir, file, s } = store();
    symlinkSync(join(dir, 'shadow'), file);
    const err = await refusal(s);
    assert.match(err.message, /outside/);
    assert.ok(!JSON.stringify(err.toJSON()).includes('s3cr3t'), 'the target is not quoted');
  });

  it('follows symlinks that stay inside the store (a ConfigMap volume\'s ..data links)', async () => {
    const { policies, file, s } = store();
    mkdirSync(join(policies, '..2026_12_06'));
    writeFileSync(join(policies, '..2026_12_06', 'web.aa'), PROFILE_P);
    symlinkSync('..2026_12_06', join(policies, '..data'));
    symlinkSync('../..data/web.aa', file);
    assert.equal((await s.read(ref, { waitMs: 0 })).text, PROFILE_P);
  });

  for (const [name, make] of [
    ['/proc/self/pagemap (size 0, never ends)', (f: string) => symlinkSync('/proc/self/pagemap', f)],
    ['a FIFO', (f: string) => spawnSync('mkfifo', [f])],
    ['a file over the size bound', (f: string) => writeFileSync(f, 'x'.repeat(MAX_POLICY_BYTES + 1))],
  ] as const) {
    it(`refuses ${name} at once`, async () => {
      const { file, s } = store();
      make(file);
      await refusal(s);
    });
  }
});
