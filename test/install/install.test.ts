import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveOptions } from '../../src/config.js';
import { LsmnsError } from '../../src/errors.js';
import { shippedHooksD, WHEN_ANNOTATIONS } from '../../src/install/hooks-d.js';
import { install, uninstall, type InstallOptions } from '../../src/install/install.js';
import { tempDir } from '../kernel/sim/helpers.js';

const HOOKS = fileURLToPath(new URL('../../../hooks', import.meta.url));

function opts(dir: string, patch: Partial<InstallOptions> = {}): InstallOptions {
  return {
    options: resolveOptions({ stateDir: join(dir, 'state'), socket: join(dir, 'agent.sock') }, {}), hooksDir: join(dir, 'hooks.d'), served: false, systemd: false,
    unitDir: join(dir, 'units'), lsmnsBin: '/usr/local/bin/lsmns', hookClient: '/usr/local/libexec/lsmns/lsmns-hook-client', shim: '/usr/local/libexec/lsmns/lsmns-runtime', ...patch,
  };
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

  it('standalone: writes two hooks with lsmns hook, env and a timeout; uninstall removes exactly them', () => {
    const dir = tempDir('lsmns-install-');
    mkdirSync(join(dir, 'hooks.d'));
    writeFileSync(join(dir, 'hooks.d', 'other.json'), '{}');
    const r = install(opts(dir));
    assert.deepEqual(r.files.map((f) => f.action), ['written', 'written']);
    const c = JSON.parse(readFileSync(join(dir, 'hooks.d', '50-lsmns-createRuntime.json'), 'utf8'));
    assert.equal(c.version, '1.0.0');
    assert.deepEqual(c.stages, ['createRuntime']);
    assert.deepEqual(c.hook.args, ['lsmns', 'hook', 'createRuntime']);
    assert.ok(c.hook.env.some((e: string) => e.startsWith('PATH=/')));
    assert.ok(c.hook.env.includes(`LSMNS_STATE_DIR=${join(dir, 'state')}`));
    assert.ok(c.hook.timeout > 0 && c.hook.timeout <= 60);
    assert.match(r.snippets, /BinaryName = "\/usr\/local\/libexec\/lsmns\/lsmns-runtime"/);
    assert.match(r.snippets, /kind: RuntimeClass/);
    assert.match(r.snippets, /runtime_path/);
    assert.deepEqual(install(opts(dir)).files.map((f) => f.action), ['unchanged', 'unchanged'], 'a re-install is idempotent');
    const u = uninstall(opts(dir).options);
    assert.deepEqual(u.files.map((f) => f.action), ['removed', 'removed']);
    assert.deepEqual(readdirSync(join(dir, 'hooks.d')), ['other.json']);
  });

  it('served + systemd: the thin client, and socket-activated agent units', () => {
    const dir = tempDir('lsmns-install-');
    install(opts(dir, { served: true, systemd: true }));
    const c = JSON.parse(readFileSync(join(dir, 'hooks.d', '50-lsmns-poststop.json'), 'utf8'));
    assert.equal(c.hook.path, '/usr/local/libexec/lsmns/lsmns-hook-client');
    assert.ok(c.hook.env.includes(`LSMNS_SOCKET=${join(dir, 'agent.sock')}`));
    const sock = readFileSync(join(dir, 'units', 'lsmns-agent.socket'), 'utf8');
    assert.match(sock, new RegExp(`^ListenStream=${join(dir, 'agent.sock')}$`, 'm'));
    assert.match(sock, /^SocketMode=0600$/m);
    assert.match(readFileSync(join(dir, 'units', 'lsmns-agent.service'), 'utf8'), /^ExecStart=\/usr\/local\/bin\/lsmns agent --socket /m);
    assert.equal(uninstall(opts(dir).options).files.length, 4);
    assert.deepEqual(readdirSync(join(dir, 'units')), []);
  });

  it('refuses to overwrite a file it did not write, and to remove one edited since, changing nothing', () => {
    const dir = tempDir('lsmns-install-');
    mkdirSync(join(dir, 'hooks.d'));
    writeFileSync(join(dir, 'hooks.d', '50-lsmns-poststop.json'), '{"mine":true}');
    assert.throws(() => install(opts(dir)), (e: LsmnsError) => e.code === 'InstallConflict' && e.message.includes('50-lsmns-poststop.json'));
    assert.deepEqual(readdirSync(join(dir, 'hooks.d')), ['50-lsmns-poststop.json'], 'nothing written');
    assert.equal(existsSync(join(dir, 'state', 'install-manifest.json')), false);

    const dir2 = tempDir('lsmns-install-');
    install(opts(dir2));
    writeFileSync(join(dir2, 'hooks.d', '50-lsmns-poststop.json'), '{"edited":true}');
    assert.throws(() => uninstall(opts(dir2).options), (e: LsmnsError) => e.code === 'InstallConflict' && e.exitCode === 2);
    assert.equal(readdirSync(join(dir2, 'hooks.d')).length, 2, 'nothing removed');
  });
});
