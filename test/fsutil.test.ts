import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BoundedReadError, readFileBounded, readStreamBounded } from '../src/fsutil.js';
import { tempDir } from './kernel/sim/helpers.js';

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BoundedReadError, String(e));
    return e.reason;
  }
  return 'read';
}

describe('fsutil bounded reads', () => {
  const d = tempDir('lsmns-fsutil-');
  writeFileSync(join(d, 'ten'), '0123456789');
  mkdirSync(join(d, 'store', 'sub'), { recursive: true });
  writeFileSync(join(d, 'store', 'sub', 'in.txt'), 'inside');
  symlinkSync('sub/in.txt', join(d, 'store', 'link-in'));
  symlinkSync('../ten', join(d, 'store', 'link-out'));
  spawnSync('mkfifo', [join(d, 'fifo')]);

  const cases: [string, string, Parameters<typeof readFileBounded>[1], string][] = [
    ['a file at the bound', 'ten', { maxBytes: 10 }, 'read'],
    ['a file one byte over', 'ten', { maxBytes: 9 }, 'TOO_LARGE'],
    ['a missing file', 'none', { maxBytes: 9 }, 'ENOENT'],
    ['a directory', 'store', { maxBytes: 9 }, 'EISDIR'],
    ['a FIFO, when only regular files are taken', 'fifo', { maxBytes: 9, regularOnly: true }, 'NOT_REGULAR'],
    ['a symlink that stays inside', 'store/link-in', { maxBytes: 9, within: join(d, 'store') }, 'read'],
    ['a symlink out of the directory', 'store/link-out', { maxBytes: 99, within: join(d, 'store') }, 'OUTSIDE'],
    ['/proc/self/pagemap, which stat says is empty', '/proc/self/pagemap', { maxBytes: 4096 }, 'TOO_LARGE'],
    ['/dev/zero', '/dev/zero', { maxBytes: 4096 }, 'TOO_LARGE'],
  ];
  for (const [name, file, o, want] of cases) {
    it(`${name}: ${want}`, () => assert.equal(reason(() => readFileBounded(file.startsWith('/') ? file : join(d, file), o)), want));
  }

  it('each read returns its own bytes: results of earlier reads stay intact, files past one 64 KiB read come whole', () => {
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    writeFileSync(join(d, 'big'), big);
    writeFileSync(join(d, 'small'), 'abc');
    const first = readFileBounded(join(d, 'small'), { maxBytes: 10 });
    const whole = readFileBounded(join(d, 'big'), { maxBytes: 300_000 });
    const again = readFileBounded(join(d, 'ten'), { maxBytes: 10 });
    assert.equal(first.toString(), 'abc');
    assert.ok(whole.equals(big));
    assert.equal(again.toString(), '0123456789');
  });

  it('a stream over the bound is refused and destroyed; one within it is read whole', async () => {
    const s = createReadStream('/dev/zero');
    await assert.rejects(readStreamBounded(s, 100_000, '/dev/zero'), (e: unknown) => e instanceof BoundedReadError && e.reason === 'TOO_LARGE');
    assert.ok(s.destroyed);
    assert.equal((await readStreamBounded(createReadStream(join(d, 'ten')), 10, 'ten')).toString(), '0123456789');
  });
});
