// The securityfs backend's host-side parts, on this machine's real kernel and apparmor_parser: the compile cache,
// the task helper, attr writes to another task, name guards and a probe of a node without AppArmor. Everything
// that needs an AppArmor kernel runs in make test-qemu.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmnsError } from '../../../src/errors.js';
import { cachePath, compiledPolicy, featuresDigest } from '../../../src/kernel/securityfs/compile.js';
import { helperPath, startTask } from '../../../src/kernel/securityfs/helper.js';
import { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { errnoOf, policy, tempDir } from '../sim/helpers.js';

/** A securityfs-like tree whose features/ the cache key is computed from. */
function fakeSecurityfs(version = '1.2'): string {
  const sfs = tempDir('lsmns-sfs-');
  mkdirSync(join(sfs, 'apparmor', 'features', 'domain'), { recursive: true });
  writeFileSync(join(sfs, 'apparmor', 'features', 'domain', 'version'), `${version}\n`);
  writeFileSync(join(sfs, 'apparmor', 'features', 'domain', 'stack'), 'yes\n');
  return sfs;
}

describe('kernel/securityfs', function () {
  this.timeout(60_000);

  describe('compile cache', () => {
    const P = policy('profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /secret r,\n}\n', 'web');

    it('compiles once with apparmor_parser, then serves the same bytes without running it', async () => {
      const sfs = fakeSecurityfs();
      const o = { stateDir: tempDir(), aaDir: join(sfs, 'apparmor'), defaultLocation: true };
      const cold = await compiledPolicy(P, o);
      assert.equal(cold.cached, false);
      assert.ok(cold.blob.length > 100, `blob of ${cold.blob.length} bytes`);
      assert.deepEqual(readFileSync(cachePath(o, P)), cold.blob);
      const path = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        const warm = await compiledPolicy(P, o);
        assert.equal(warm.cached, true);
        assert.deepEqual(warm.blob, cold.blob);
      } finally {
        process.env.PATH = path;
      }
    });

    it('keys the cache by the kernel feature set and the policy digest', () => {
      const a = fakeSecurityfs('1.2');
      const b = fakeSecurityfs('1.3');
      const stateDir = tempDir();
      assert.notEqual(featuresDigest(join(a, 'apparmor')), featuresDigest(join(b, 'apparmor')));
      const pa = cachePath({ stateDir, aaDir: join(a, 'apparmor'), defaultLocation: true }, P);
      assert.notEqual(pa, cachePath({ stateDir, aaDir: join(b, 'apparmor'), defaultLocation: true }, P));
      assert.notEqual(pa, cachePath({ stateDir, aaDir: join(a, 'apparmor'), defaultLocation: true }, policy(`${P.text}\n`, 'web')));
      assert.ok(pa.startsWith(`${stateDir}/policy-cache/`), pa);
    });

    it('reports a policy apparmor_parser refuses with its message, the policy path, and caches nothing', async () => {
      const sfs = fakeSecurityfs();
      const bad = policy('profile p {\n  bogus rule here,\n}\n', 'bad');
      const o = { stateDir: tempDir(), aaDir: join(sfs, 'apparmor'), defaultLocation: true };
      await assert.rejects(compiledPolicy(bad, o), (e: LsmnsError) => {
        assert.equal(e.code, 'PolicyCompileFailed');
        assert.match(e.message, /policy bad \(\/policies\/bad\.aa\): exit 1: .*syntax error/);
        assert.doesNotMatch(e.message, /\.src-/, 'the temporary source file is not shown');
        return true;
      });
      assert.equal(existsSync(cachePath(o, bad)), false);
    });
  });

  describe('task helper', () => {
    it('starts a task that is ready once it has exec\'d the pause program, and ends it', async () => {
      const child = await startTask({ via: 'apparmor/exec' });
      try {
        assert.equal(readFileSync(`/proc/${child.pid}/cmdline`, 'latin1'), `${helperPath()}\0pause\0`);
      } finally {
        child.kill('SIGKILL');
      }
      await new Promise((r) => child.once('exit', r));
    });

    it('turns a refused label write into the kernel\'s errno, before any exec', async () => {
      // No LSM here takes an AppArmor command through a missing attr/apparmor/ (ENOENT) or the shared file (EINVAL
      // or ENOENT, depending on the host's LSMs): what matters is a typed error with an errno, not a started task.
      await assert.rejects(startTask({ via: 'apparmor/exec', label: ':nons:p' }), (e: LsmnsError) => {
        assert.ok(e instanceof LsmnsError && typeof e.errno === 'string' && /^E[A-Z]+$/.test(e.errno), String(e));
        assert.match(e.message, /\/proc\/thread-self\/attr\/apparmor\/exec/);
        return true;
      });
    });
  });

  describe('port', () => {
    it('refuses a write to another task\'s attr with EPERM, even as root', async () => {
      const k = new SecurityfsKernel({ securityfs: fakeSecurityfs(), stateDir: tempDir() });
      const other = spawn('sleep', ['30'], { stdio: 'ignore' });
      await new Promise((r) => other.once('spawn', r));
      try {
        assert.equal(await errnoOf(k.writeTaskAttr(other.pid!, 'exec', 'exec :t:p')), 'EPERM');
      } finally {
        other.kill('SIGKILL');
      }
    });

    it('maps a//b to nested namespaces directories and refuses a "/" in a name before touching the filesystem', async () => {
      const sfs = fakeSecurityfs();
      const k = new SecurityfsKernel({ securityfs: sfs, stateDir: tempDir() });
      assert.equal(k.nsDir('a//b', 'mkdir'), `${sfs}/apparmor/policy/namespaces/a/namespaces/b`);
      assert.equal(k.nsDir('', 'mkdir'), `${sfs}/apparmor/policy`);
      assert.equal(await errnoOf(k.createNamespace('a/../../x')), 'EINVAL');
      assert.equal(existsSync(`${sfs}/apparmor/policy`), false);
      assert.equal(await errnoOf(k.removeNamespace('')), 'EBUSY');
    });

    it('probes a node without AppArmor at that securityfs as such (no LSMs, not enabled, no policy admin)', async () => {
      const k = new SecurityfsKernel({ securityfs: tempDir(), stateDir: tempDir() });
      const f = await k.probe();
      assert.deepEqual([f.lsms, f.securityfs.mounted, f.apparmor.enabled, f.apparmor.policyNamespaces, f.apparmor.policyAdmin, f.apparmor.domainVersion], [[], false, false, false, false, null]);
      assert.equal(k.probeDetail().syscalls.ran, true, k.probeDetail().syscalls.note);
    });
  });
});
