import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LsmnsError } from '../../src/errors.js';
import { MAX_CONFIG_BYTES, MAX_OCI_STATE_BYTES, parseOciConfig, parseOciState, readBundleConfig } from '../../src/oci/spec.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { bundle } from '../support/bundle.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const STATES = join(FIXTURES, 'oci', 'state');
const STATE = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle: '/run/bundle' };

/** The LsmnsError that f throws; fails when it throws nothing or something else. */
function thrown(f: () => unknown): LsmnsError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof LsmnsError, String(e));
    return e;
  }
  assert.fail('expected an LsmnsError');
}

describe('oci/spec', () => {
  describe('parseOciState', () => {
    for (const f of readdirSync(STATES).filter((x) => x.endsWith('.json'))) {
      it(`parses the real capture ${f}`, () => {
        const s = parseOciState(readFileSync(join(STATES, f), 'utf8'));
        assert.equal(s.bundle, '/tmp/lsmns-lab/oci/bundle');
        assert.match(s.id, /^(fixture-runc|ci-crun)$/);
        assert.equal(s.annotations?.foo, 'bar');
        if (f.startsWith('runc-poststop')) assert.equal(s.pid, undefined, 'runc omits pid at poststop');
        if (f.startsWith('crun-poststop')) assert.equal(s.pid, 0, 'crun sends pid 0 at poststop');
      });
    }

    it('keeps fields it does not know (crun sends root)', () => {
      const s = parseOciState(readFileSync(join(STATES, 'crun-poststop.state.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(s.root, 'rootfs');
    });

    // Hostile or broken states: exit 2, the field named, its value escaped for printing.
    const refused: [string, unknown, string, RegExp][] = [
      ['an empty id', { ...STATE, id: '' }, 'id', /length/i],
      ['an id over 1024 characters', { ...STATE, id: 'x'.repeat(1025) }, 'id', /length/i],
      ['no bundle', { ...STATE, bundle: undefined }, 'bundle', /Expected "bundle"/],
      ['a bundle over 4096 characters', { ...STATE, bundle: `/${'b'.repeat(4096)}` }, 'bundle', /length/i],
      ['a negative pid', { ...STATE, pid: -1 }, 'pid', /Expected >=0/],
      ['a fractional pid', { ...STATE, pid: 1.5 }, 'pid', /integer/i],
      ['a pid as a string', { ...STATE, pid: '42' }, 'pid', /Expected number/],
      ['an annotation that is not a string', { ...STATE, annotations: { 'lsmns.io/apparmor-namespace': 5 } }, 'annotations.lsmns.io/apparmor-namespace', /Expected string/],
      ['a status that is not a string', { ...STATE, status: { evil: '\n' } }, 'status', /Expected string/],
    ];
    for (const [name, doc, field, rule] of refused) {
      it(`refuses ${name}, naming the field`, () => {
        const e = thrown(() => parseOciState(JSON.stringify(doc)));
        assert.deepEqual([e.code, e.exitCode], ['InvalidOciState', 2]);
        const p = e.problems.find((x) => x.key === `OCI state on stdin: ${field}`);
        assert.ok(p, `a problem names ${field}: ${JSON.stringify(e.problems)}`);
        assert.match(p.rule, rule);
        assert.match(p.value, /^[\x20-\x7e]*$/, 'the value is printable');
        assert.match(e.message, new RegExp(`${field.replace(/[./]/g, '\\$&')} `));
        assert.match(e.remedy, /OCI state JSON/);
      });
    }

    it('names every missing field at once, and where the state came from', () => {
      const e = thrown(() => parseOciState('[1,2]', 'state.json'));
      assert.deepEqual(e.problems.map((p) => p.key), ['ociVersion', 'id', 'status', 'bundle'].map((f) => `state.json: ${f}`));
    });

    it('refuses text that is not JSON with the parser\'s reason and a remedy for hook authors', () => {
      const e = thrown(() => parseOciState('{"ociVersion":'));
      assert.deepEqual([e.code, e.exitCode], ['InvalidOciState', 2]);
      assert.match(e.message, /^OCI state on stdin: not valid JSON \(.+\)$/);
      assert.match(e.remedy, /run lsmns hook only from a runtime hook/);
    });
  });

  describe('parseOciConfig', () => {
    it('reads a real containerd 1.6 config.json: annotations and the profile containerd set', () => {
      const c = parseOciConfig(readFileSync(join(FIXTURES, 'cri', 'containerd-1.6-app.config.json'), 'utf8'), 'app');
      assert.equal(c.process?.apparmorProfile, '&:tenantns:lab-profile');
      assert.equal(c.annotations?.['io.kubernetes.cri.container-name'], 'app');
      assert.equal(c.annotations?.['lsmns.io/apparmor-namespace'], 'tenantns');
    });

    it('reads the hooks it may add to', () => {
      const c = parseOciConfig(JSON.stringify({ hooks: { createRuntime: [{ path: '/bin/lsmns', args: ['lsmns', 'hook', 'createRuntime'], timeout: 5 }] } }), 'config.json');
      assert.deepEqual(c.hooks?.createRuntime, [{ path: '/bin/lsmns', args: ['lsmns', 'hook', 'createRuntime'], timeout: 5 }]);
    });

    const refused: [string, unknown, string][] = [
      ['a profile that is not a string', { process: { apparmorProfile: 7 } }, 'process.apparmorProfile'],
      ['a hook without a path', { hooks: { prestart: [{ args: [] }] } }, 'hooks.prestart.0.path'],
      ['hook args that are not strings', { hooks: { poststop: [{ path: '/x', args: [1] }] } }, 'hooks.poststop.0.args.0'],
      ['annotations that are a string', { annotations: 'lsmns.io/apparmor-namespace=x' }, 'annotations'],
    ];
    for (const [name, doc, field] of refused) {
      it(`refuses ${name}, naming the field and the file`, () => {
        const e = thrown(() => parseOciConfig(JSON.stringify(doc), '/b/config.json'));
        assert.deepEqual([e.code, e.exitCode], ['InvalidBundle', 2]);
        assert.deepEqual(e.problems.map((p) => p.key), [`/b/config.json: ${field}`]);
        assert.equal(e.remedy, 'fix config.json so that it is an OCI runtime spec');
      });
    }

    it('refuses a config.json that is not JSON', () => {
      const e = thrown(() => parseOciConfig('ociVersion: 1', '/b/config.json'));
      assert.deepEqual([e.code, e.exitCode], ['InvalidBundle', 2]);
      assert.match(e.message, /^\/b\/config\.json: not valid JSON/);
    });
  });

  describe('readBundleConfig', () => {
    it('reads <bundle>/config.json, giving its path, the parsed config and the text as read', () => {
      const b = bundle({ dir: tempDir() }, { 'lsmns.io/apparmor-namespace': 'tenant-a' });
      const r = readBundleConfig(`${b}//`);
      assert.equal(r.path, `${b}/config.json`, 'trailing slashes are dropped');
      assert.equal(r.text, readFileSync(join(b, 'config.json'), 'utf8'));
      assert.deepEqual(r.config.annotations, { 'lsmns.io/apparmor-namespace': 'tenant-a' });
    });

    const refused: [string, (dir: string) => string, RegExp][] = [
      ['a relative bundle (a hook\'s cwd is not the bundle)', () => 'relative/dir', /^bundle path "relative\/dir" is not absolute$/],
      ['a bundle path with NUL', (dir) => `${dir}/a\0b`, /^bundle path ".*a\\0b" is not absolute$/],
      ['a bundle without config.json', (dir) => join(dir, 'nowhere'), /^cannot read .*\/nowhere\/config\.json: ENOENT$/],
      ['a config.json that is a directory', (dir) => { mkdirSync(join(dir, 'd', 'config.json'), { recursive: true }); return join(dir, 'd'); }, /config\.json: EISDIR$/],
      ['a config.json that is not JSON', (dir) => { mkdirSync(join(dir, 'j')); writeFileSync(join(dir, 'j', 'config.json'), '{'); return join(dir, 'j'); }, /config\.json: not valid JSON/],
    ];
    for (const [name, make, message] of refused) {
      it(`refuses ${name} (exit 2, InvalidBundle)`, () => {
        const e = thrown(() => readBundleConfig(make(tempDir())));
        assert.deepEqual([e.code, e.exitCode], ['InvalidBundle', 2]);
        assert.match(e.message, message);
      });
    }
  });
});

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const MINIMAL = { ociVersion: '1.0.2', id: 'c1', status: 'creating', bundle: '/b' };

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

describe('oci/spec: hostile documents and files (issue 16, findings 7 and 8)', () => {
  describe('parseOciState and parseOciConfig refuse hostile documents with exit 2', () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      ['a state nested 100,000 deep', () => parseOciState(JSON.stringify({ ...MINIMAL, x: 0 }).replace('0}', `${deep(100_000)}}`)), 'InvalidOciState', /nested deeper than 100/],
      ['a state of annotations nested deep', () => parseOciState(JSON.stringify({ ...MINIMAL, annotations: 0 }).replace('0}', `${deep(5000)}}`)), 'InvalidOciState', /nested deeper than/],
      ['a state over the byte bound', () => parseOciState(JSON.stringify({ ...MINIMAL, pad: 'x'.repeat(MAX_OCI_STATE_BYTES) })), 'InvalidOciState', /over \d+ bytes/],
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
      assert.equal(parseOciState(JSON.stringify({ ...MINIMAL, x: 0 }).replace('0}', `${deep(98)}}`)).id, 'c1');
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
