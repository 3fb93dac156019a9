import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OwnershipStore, type OwnerRecord } from '../../src/apply/ownership.js';
import { LsmnsError } from '../../src/errors.js';
import { tempDir } from '../kernel/sim/helpers.js';

describe('apply/ownership', () => {
  const rec: OwnerRecord = {
    formatVersion: '1', namespace: 'tenant-a', podKey: 'uid:u', pod: { name: 'a', namespace: 'n', uid: 'u' }, sandboxId: null,
    state: 'ready', refs: ['c1'], policy: null, createdAt: '2026-12-06T00:00:00.000Z', createdByPid: 1,
  };
  const store = () => new OwnershipStore({ stateDir: tempDir(), backend: 'sim', bootId: 'b1' });

  it('writes and reads a marker, and lists it', () => {
    const s = store();
    s.put(rec);
    assert.deepEqual(s.get('tenant-a'), rec);
    assert.deepEqual(s.list().map((r) => r.namespace), ['tenant-a']);
  });

  it('reads a marker an earlier version wrote with the number 1 as the current version', () => {
    const s = store();
    mkdirSync(s.dir, { recursive: true });
    writeFileSync(join(s.dir, 'tenant-a.json'), JSON.stringify({ ...rec, formatVersion: 1 }));
    assert.equal(s.get('tenant-a')!.formatVersion, '1');
  });

  const broken: [string, string][] = [
    ['not JSON', '{"formatVersion":'],
    ['null', 'null'],
    ['an unknown format version', JSON.stringify({ ...rec, formatVersion: '9' })],
    ['refs: null', JSON.stringify({ ...rec, refs: null })],
    ['no podKey', JSON.stringify({ ...rec, podKey: undefined })],
  ];
  for (const [name, text] of broken) {
    it(`refuses a marker that is ${name} (StateCorrupt, naming the file)`, () => {
      const s = store();
      mkdirSync(s.dir, { recursive: true });
      writeFileSync(join(s.dir, 'tenant-a.json'), text);
      assert.throws(() => s.get('tenant-a'), (e: unknown) => e instanceof LsmnsError && e.code === 'StateCorrupt' && e.message.includes(join(s.dir, 'tenant-a.json')) && /moved aside to .*tenant-a\.json\.corrupt-\d+/.test(e.message));
      assert.equal(s.get('tenant-a'), null, 'quarantined: the next call is not stuck on it');
      assert.deepEqual(readdirSync(s.dir).filter((f) => f.includes('.corrupt-')).map((f) => readFileSync(join(s.dir, f), 'utf8')), [text], 'kept for inspection');
    });
  }

  it('refuses a namespace name that could leave its directory', () => {
    assert.throws(() => store().get('../x'), /unvalidated namespace name/);
  });
});
