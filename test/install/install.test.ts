import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNodeConfig, resolveOptions } from '../../src/config.js';
import { LsmnsError } from '../../src/errors.js';
import { shippedHooksD, WHEN_ANNOTATIONS } from '../../src/install/hooks-d.js';
import { detectBackend, install, uninstall, type InstallOptions } from '../../src/install/install.js';
import { CONF_FIELD, CONF_MARKER } from '../../src/install/layout.js';
import { tempDir } from '../kernel/sim/helpers.js';

const HOOKS = fileURLToPath(new URL('../../../hooks', import.meta.url));
const NATIVE = fileURLToPath(new URL('../../../dist/native', import.meta.url));

function opts(dir: string, patch: Partial<InstallOptions> = {}): InstallOptions {
  return {
    options: resolveOptions({}, {}), root: dir, destdir: '/', hooksDir: '/etc/containers/oci/hooks.d', unitDir: '/etc/systemd/system',
    served: false, systemd: false, runtime: 'runc', lsmnsBin: '/usr/local/lib/lsmns/bin/lsmns.cjs', node: '/usr/bin/node',
    frontSource: join(HOOKS, 'lsmns-runtime'), clientSource: join(HOOKS, 'lsmns-hook-client'), ...patch,
  };
}

/** Every absolute path in a text. */
function pathsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w.])\/(?:[\w.-]+\/)*[\w.-]+/g)].map((m) => m[0]);
}

describe('install', () => {
  it('the JSON shipped under hooks/hooks.d is what install renders (run scripts/update-hooks.mjs after a change)', () => {
    for (const f of shippedHooksD(resolveOptions({}, {}), HOOKS)) assert.equal(readFileSync(f.path, 'utf8'), f.content, f.path);
  });

  it('the annotation gate is every lsmns key, anchored; its value pattern matches any value, a hostile one too', () => {
    const entries = Object.entries(WHEN_ANNOTATIONS) as [string, string][];
    assert.equal(entries.length, 1, 'podman and CRI-O AND the patterns: one pattern, or a pod must carry all of them');
    const [[key, value]] = entries;
    // Go's regexp (podman, CRI-O) and JS agree on these patterns: unanchored match, "." not matching newline.
    const k = new RegExp(key);
    const v = new RegExp(value);
    for (const ours of ['lsmns.io/apparmor-namespace', 'lsmns.io/apparmor-profile', 'lsmns.io/apparmor-namepsace', 'container.lsmns.io/app']) assert.ok(k.test(ours), ours);
    for (const other of ['xlsmns.io/apparmor-namespace', 'example.com/lsmns.io/x', 'lsmnsXio/apparmor-namespace', 'container.lsmnsXio/app', 'io.kubernetes.cri.sandbox-id']) assert.ok(!k.test(other), other);
    for (const val of ['tenant-a', '', 'a\nb', '../..', '\u00e4']) assert.ok(v.test(val), JSON.stringify(val));
  });

  it('--root: the whole node under DIR, and every path written into a file points inside DIR', () => {
    const dir = tempDir('lsmns-install-');
    const r = install(opts(dir, { options: { ...resolveOptions({}, {}), backend: 'sim' } }));
    const rel = r.files.map((f) => f.path.slice(dir.length)).sort();
    assert.deepEqual(rel, ['/etc/containers/oci/hooks.d/50-lsmns-createRuntime.json', '/etc/containers/oci/hooks.d/50-lsmns-poststop.json', '/etc/lsmns/node.conf', '/opt/lsmns/bin/lsmns', '/opt/lsmns/bin/lsmns-hook-client', '/opt/lsmns/bin/lsmns-runtime']);
    for (const d of ['/var/lib/lsmns', '/etc/lsmns/policies']) assert.ok(statSync(join(dir, d)).isDirectory(), d);
    const confText = readFileSync(join(dir, 'etc/lsmns/node.conf'), 'utf8');
    assert.equal(confText.split('\n')[0], 'LSMNS_RUNTIME=runc', 'first: the shim front reads no further for its pass-through verbs');
    const conf = parseNodeConfig(confText, 'node.conf').values;
    assert.equal(conf.LSMNS_BACKEND, 'sim');
    assert.equal(conf.LSMNS_SHIM_MODE, 'standalone');
    assert.equal(conf.LSMNS_SOCKET, join(dir, 'run/lsmns/agent.sock'));
    assert.equal(conf.LSMNS_SECURITYFS, '/sys/kernel/security', 'the kernel\'s interface is not part of the layout');
    for (const f of r.files) {
      const text = readFileSync(f.path, 'utf8');
      // The sh programs mention node paths only in comments and defaults; the baked line is what they use.
      if (/lsmns-(runtime|hook-client)$/.test(f.path)) {
        assert.match(text, new RegExp(`^conf_default='${join(dir, 'etc/lsmns/node.conf')}'$`, 'm'), f.path);
        continue;
      }
      if (f.path.endsWith('/lsmns')) continue; // the wrapper names the program (node and lsmns's entry), not the node
      // Not the layout: the hooks' PATH and the kernel's securityfs.
      const data = text.split('\n').filter((l) => !l.startsWith('#')).join('\n').replace(/PATH=[^"\n]*/g, '').replaceAll('/sys/kernel/security', '');
      assert.deepEqual(pathsIn(data).filter((p) => !p.startsWith(`${dir}/`)), [], f.path);
    }
    const hook = JSON.parse(readFileSync(join(dir, 'etc/containers/oci/hooks.d/50-lsmns-createRuntime.json'), 'utf8'));
    assert.equal(hook.hook.path, join(dir, 'opt/lsmns/bin/lsmns'));
    assert.ok(hook.hook.env.includes(`LSMNS_STATE_DIR=${join(dir, 'var/lib/lsmns')}`));
    assert.ok(statSync(join(dir, 'opt/lsmns/bin/lsmns-runtime')).mode & 0o100, 'the front is executable');
    assert.match(r.snippets, new RegExp(`BinaryName = "${join(dir, 'opt/lsmns/bin/lsmns-runtime')}"`));
    assert.deepEqual(install(opts(dir, { options: { ...resolveOptions({}, {}), backend: 'sim' } })).files.map((f) => f.action), r.files.map(() => 'unchanged'), 'a re-install is idempotent');
    const u = uninstall(join(dir, 'var/lib/lsmns'));
    assert.deepEqual(u.files.map((f) => f.action), r.files.map(() => 'removed'));
    assert.deepEqual(readdirSync(join(dir, 'etc/containers/oci/hooks.d')), []);
  });

  for (const [name, field] of [['lsmns-hook-client', 'clientSource'], ['lsmns-runtime', 'frontSource']] as const) {
    it(`the static ${name} gets the node.conf path in its marked field, NUL-padded; nothing else changes`, function () {
      const src = join(NATIVE, name);
      if (!existsSync(src)) this.skip();
      const dir = tempDir('lsmns-install-');
      install(opts(dir, { served: true, [field]: src }));
      const orig = readFileSync(src);
      const baked = readFileSync(join(dir, 'opt/lsmns/bin', name));
      const at = orig.indexOf(CONF_MARKER);
      assert.ok(at > 0);
      assert.equal(baked.length, orig.length);
      const conf = baked.subarray(at + CONF_MARKER.length, at + CONF_FIELD);
      assert.equal(conf.subarray(0, conf.indexOf(0)).toString(), join(dir, 'etc/lsmns/node.conf'));
      assert.ok(conf.subarray(conf.indexOf(0)).every((b) => b === 0));
      assert.deepEqual(baked.subarray(0, at), orig.subarray(0, at));
      assert.deepEqual(baked.subarray(at + CONF_FIELD), orig.subarray(at + CONF_FIELD));
    });
  }

  it('served + systemd: the thin client in the hooks, socket-activated agent units that read node.conf', () => {
    const dir = tempDir('lsmns-install-');
    const r = install(opts(dir, { served: true, systemd: true }));
    const c = JSON.parse(readFileSync(join(dir, 'etc/containers/oci/hooks.d/50-lsmns-poststop.json'), 'utf8'));
    assert.equal(c.hook.path, join(dir, 'opt/lsmns/bin/lsmns-hook-client'));
    assert.ok(c.hook.env.includes(`LSMNS_SOCKET=${join(dir, 'run/lsmns/agent.sock')}`));
    assert.equal(existsSync(join(dir, 'opt/lsmns/bin/lsmns')), false, 'served needs no lsmns on the node');
    assert.equal(parseNodeConfig(readFileSync(join(dir, 'etc/lsmns/node.conf'), 'utf8'), 'x').values.LSMNS_SHIM_MODE, 'served');
    const sock = readFileSync(join(dir, 'etc/systemd/system/lsmns-agent.socket'), 'utf8');
    assert.match(sock, new RegExp(`^ListenStream=${join(dir, 'run/lsmns/agent.sock')}$`, 'm'));
    assert.match(sock, /^SocketMode=0600$/m);
    assert.match(readFileSync(join(dir, 'etc/systemd/system/lsmns-agent.service'), 'utf8'), new RegExp(`^ExecStart=/usr/bin/node /usr/local/lib/lsmns/bin/lsmns.cjs agent --config ${join(dir, 'etc/lsmns/node.conf')}$`, 'm'));
    assert.equal(uninstall(join(dir, 'var/lib/lsmns')).files.length, r.files.length);
  });

  it('--destdir: files under DIR, the node\'s own paths in them (the init container)', () => {
    const dir = tempDir('lsmns-install-');
    const r = install(opts(dir, { root: '/', destdir: dir, served: true, options: { ...resolveOptions({}, {}), backend: 'securityfs' } }));
    assert.equal(r.config, '/etc/lsmns/node.conf');
    assert.ok(r.files.every((f) => f.path.startsWith(`${dir}/`)));
    const conf = parseNodeConfig(readFileSync(join(dir, 'etc/lsmns/node.conf'), 'utf8'), 'x').values;
    assert.deepEqual([conf.LSMNS_BACKEND, conf.LSMNS_SOCKET, conf.LSMNS_HOOK_CLIENT], ['securityfs', '/run/lsmns/agent.sock', '/opt/lsmns/bin/lsmns-hook-client']);
    assert.match(readFileSync(join(dir, 'opt/lsmns/bin/lsmns-runtime'), 'utf8'), /^conf_default='\/etc\/lsmns\/node.conf'$/m);
    assert.ok(existsSync(join(dir, 'var/lib/lsmns/install-manifest.json')));
  });

  it('without --backend: securityfs where AppArmor is enabled, else a refusal that names --backend sim', () => {
    assert.equal(detectBackend({ appArmorEnabled: () => true }), 'securityfs');
    assert.throws(() => detectBackend({ appArmorEnabled: () => false }), (e: LsmnsError) => e.exitCode === 3 && e.remedy.includes('--backend sim'));
  });

  it('refuses to overwrite a file it did not write, and to remove one edited since, changing nothing', () => {
    const dir = tempDir('lsmns-install-');
    mkdirSync(join(dir, 'etc/containers/oci/hooks.d'), { recursive: true });
    writeFileSync(join(dir, 'etc/containers/oci/hooks.d/50-lsmns-poststop.json'), '{"mine":true}');
    assert.throws(() => install(opts(dir)), (e: LsmnsError) => e.code === 'InstallConflict' && e.message.includes('50-lsmns-poststop.json'));
    assert.deepEqual(readdirSync(join(dir, 'etc/containers/oci/hooks.d')), ['50-lsmns-poststop.json'], 'nothing written');
    assert.equal(existsSync(join(dir, 'etc/lsmns/node.conf')), false);

    const dir2 = tempDir('lsmns-install-');
    install(opts(dir2));
    writeFileSync(join(dir2, 'etc/lsmns/node.conf'), 'LSMNS_BACKEND=sim\n');
    assert.throws(() => uninstall(join(dir2, 'var/lib/lsmns')), (e: LsmnsError) => e.code === 'InstallConflict' && e.exitCode === 2);
    assert.equal(readdirSync(join(dir2, 'etc/containers/oci/hooks.d')).length, 2, 'nothing removed');
  });
});
