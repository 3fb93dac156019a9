import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmnsError } from '../../src/errors.js';
import { MAX_CONFIG_BYTES, MAX_OCI_STATE_BYTES, parseOciConfig, parseOciState, readBundleConfig } from '../../src/oci/spec.js';
import { tempDir } from '../kernel/sim/helpers.js';

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const STATE = { ociVersion: '1.0.2', id: 'c1', status: 'creating', bundle: '/b' };

function refused(fn: () => unknown): LsmnsError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LsmnsError, String(e));
    assert.equal(e.exitCode, 2);
    return e;
  }
  assert.fail('not refused');
}

describe('oci/spec', () => {
  describe('parseOciState and parseOciConfig refuse hostile documents with exit 2', () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      ['a state nested 100,000 deep', () => parseOciState(JSON.stringify({ ...STATE, x: 0 }).replace('0}', `${deep(100_000)}}`)), 'InvalidOciState', /nested deeper than 100/],
      ['a state of annotations nested deep', () => parseOciState(JSON.stringify({ ...STATE, annotations: 0 }).replace('0}', `${deep(5000)}}`)), 'InvalidOciState', /nested deeper than/],
      ['a state over the byte bound', () => parseOciState(JSON.stringify({ ...STATE, pad: 'x'.repeat(MAX_OCI_STATE_BYTES) })), 'InvalidOciState', /over \d+ bytes/],
      ['a config nested 100,000 deep', () => parseOciConfig(`{"x":${deep(100_000)}}`, 'config.json'), 'InvalidBundle', /nested deeper than/],
      ['a config whose annotations are a deep array', () => parseOciConfig(`{"annotations":${deep(2000)}}`, 'config.json'), 'InvalidBundle', /nested deeper than/],
      ['a config over the byte bound', () => parseOciConfig(JSON.stringify({ pad: 'x'.repeat(MAX_CONFIG_BYTES) }), 'config.json'), 'InvalidBundle', /over \d+ bytes/],
    ];
    for (const [name, fn, code, message] of cases) {
      it(name, () => {
        const e = refused(fn);
        assert.equal(e.code, code);
        assert.match(e.message, message);
      });
    }
    it('a state nested 99 levels is still read', () => {
      assert.equal(parseOciState(JSON.stringify({ ...STATE, x: 0 }).replace('0}', `${deep(98)}}`)).id, 'c1');
    });
  });

  describe('readBundleConfig reads with a hard bound, whatever stat says', () => {
    const cases: [string, (f: string) => void, RegExp][] = [
      ['/proc/self/pagemap (size 0, never ends)', (f) => symlinkSync('/proc/self/pagemap', f), /not a regular file|more than/],
      ['/dev/zero', (f) => symlinkSync('/dev/zero', f), /not a regular file/],
      ['a FIFO without a writer', (f) => spawnSync('mkfifo', [f]), /not a regular file/],
      ['a directory', (f) => mkdirSync(f), /EISDIR|directory/],
      ['a file over the bound', (f) => writeFileSync(f, ' '.repeat(MAX_CONFIG_BYTES + 1)), /more than \d+ bytes/],
      ['a missing file', () => {}, /ENOENT/],
    ];
    for (const [name, make, message] of cases) {
      it(`refuses ${name} at once (exit 2, InvalidBundle)`, () => {
        const b = tempDir('lsmns-bundle-');
        make(join(b, 'config.json'));
        const t0 = Date.now();
        const e = refused(() => readBundleConfig(b));
        assert.equal(e.code, 'InvalidBundle');
        assert.match(e.message, message);
        assert.ok(Date.now() - t0 < 5000);
      });
    }
  });
});
