import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmnsError } from '../../src/errors.js';
import { lintedProfiles } from '../../src/policy/lint-cache.js';
import { digestOf, type PolicySource } from '../../src/policy/store.js';
import { tempDir } from '../kernel/sim/helpers.js';

const src = (text: string): PolicySource => ({ ref: 'web', path: '/p/web.aa', text, digest: digestOf(text) });

describe('policy/lint-cache', () => {
  it('lints once per digest: a second reading comes from the state dir, not the parser', async () => {
    const stateDir = tempDir();
    const s = src('profile web {\n  /srv/** r,\n}\n');
    const first = await lintedProfiles(s, { stateDir, includeDirs: [] });
    assert.deepEqual(first.map((p) => p.name), ['web']);
    const [file] = readdirSync(join(stateDir, 'policy-lint'));
    // Prove the second call reads the cache: rewrite the cached profile list, keeping the digest.
    writeFileSync(join(stateDir, 'policy-lint', file!), JSON.stringify({ formatVersion: '1', digest: s.digest, profiles: [{ ...first[0], name: 'from-cache' }] }));
    assert.deepEqual((await lintedProfiles(s, { stateDir, includeDirs: [] })).map((p) => p.name), ['from-cache']);
    // Another digest, or other include directories, is another entry.
    assert.deepEqual((await lintedProfiles(src('profile other {\n}\n'), { stateDir, includeDirs: [] })).map((p) => p.name), ['other']);
    assert.deepEqual((await lintedProfiles(s, { stateDir, includeDirs: ['/nonexistent'] })).map((p) => p.name), ['web']);
  });

  it('an escaping policy is refused every time and nothing is cached for it', async () => {
    const stateDir = tempDir();
    const bad = src('profile :other:evil {\n}\n');
    for (let i = 0; i < 2; i++) await assert.rejects(lintedProfiles(bad, { stateDir, includeDirs: [] }), (e: unknown) => e instanceof LsmnsError && e.exitCode === 2 && /addresses a namespace/.test(e.message));
    assert.equal(existsSync(join(stateDir, 'policy-lint')), false);
  });

  it('a corrupt cache entry is parsed again, and an unwritable state dir only costs the parse', async () => {
    const stateDir = tempDir();
    const s = src('profile web {\n}\n');
    await lintedProfiles(s, { stateDir, includeDirs: [] });
    const [file] = readdirSync(join(stateDir, 'policy-lint'));
    writeFileSync(join(stateDir, 'policy-lint', file!), '{"formatVersion":');
    assert.deepEqual((await lintedProfiles(s, { stateDir, includeDirs: [] })).map((p) => p.name), ['web']);
    const fileAsDir = join(tempDir(), 'f');
    writeFileSync(fileAsDir, '');
    assert.deepEqual((await lintedProfiles(s, { stateDir: fileAsDir, includeDirs: [] })).map((p) => p.name), ['web']);
  });
});
