import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmnsError } from '../../src/errors.js';
import { containerdConfigVersion, handlerConfigured, renderContainerdHandler, renderCrioHandler, writeContainerdHandler, writeCrioHandler } from '../../src/install/runtime-handler.js';
import { tempDir } from '../kernel/sim/helpers.js';

const hasContainerd = spawnSync('containerd', ['--version'], { encoding: 'utf8' }).status === 0;

function nodeConfig(d: string): string {
  const main = join(d, 'config.toml');
  writeFileSync(main, `version = 2\nroot = "${d}/root"\nstate = "${d}/state"\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.9"\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n`);
  return main;
}

describe('install/runtime-handler', () => {
  it('containerd 1.6/1.7 (config v2): the real containerd reads the written handler and keeps the node\'s own CRI settings', function () {
    if (!hasContainerd) this.skip();
    const d = tempDir('lsmns-ctd-');
    const main = nodeConfig(d);
    const w = writeContainerdHandler({ mainConfig: main, shimPath: '/opt/lsmns/bin/lsmns-runtime', systemdCgroup: true });
    assert.equal(w.changed, true);
    const r = spawnSync('containerd', ['--config', main, 'config', 'dump'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const dump = r.stdout;
    const at = dump.indexOf('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.lsmns]');
    assert.ok(at >= 0, 'containerd lists the lsmns runtime');
    const section = dump.slice(at, dump.indexOf('\n\n', dump.indexOf('.runtimes.lsmns.options]', at)));
    assert.match(section, /pod_annotations = \["lsmns\.io\/\*", "container\.lsmns\.io\/\*"\]/);
    assert.match(section, /runtime_type = "io\.containerd\.runc\.v2"/);
    assert.match(section, /BinaryName = "\/opt\/lsmns\/bin\/lsmns-runtime"/);
    assert.match(dump, /sandbox_image = "registry\.k8s\.io\/pause:3\.9"/, 'the node\'s settings survive');
    assert.match(dump, /\.runtimes\.runc\]/);
    assert.equal(readFileSync(`${main}.lsmns-backup`, 'utf8').includes('runtimes.lsmns'), false, 'the backup is the file before');
    assert.equal(writeContainerdHandler({ mainConfig: main }).changed, false, 'a second write changes nothing');
  });

  for (const v of [3, 4] as const) {
    it(`containerd 2.x (config v${v}) uses the io.containerd.cri.v1.runtime plugin table`, () => {
      const t = renderContainerdHandler(v);
      assert.match(t, new RegExp(`^# lsmns runtime handler for containerd .*\\(config version ${v}\\)`, 'm'));
      assert.match(t, /^\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.lsmns\]$/m);
      assert.match(t, /^\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.lsmns\.options\]\n {2}BinaryName = "\/opt\/lsmns\/bin\/lsmns-runtime"$/m);
      const d = tempDir(`lsmns-v${v}-`);
      writeFileSync(join(d, 'config.toml'), `version = ${v}\n`);
      writeContainerdHandler({ mainConfig: join(d, 'config.toml') });
      assert.match(readFileSync(join(d, 'config.toml'), 'utf8'), /io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.lsmns\]/, 'the version comes from the file');
    });
  }

  it('refuses a config without a version 2/3/4 line, changing nothing', () => {
    const d = tempDir('lsmns-v1-');
    writeFileSync(join(d, 'config.toml'), 'root = "/x"\n');
    assert.throws(() => writeContainerdHandler({ mainConfig: join(d, 'config.toml') }), (e: unknown) => e instanceof LsmnsError && /config version 1/.test(e.message) && /containerd config default/.test(e.remedy));
    assert.equal(readFileSync(join(d, 'config.toml'), 'utf8'), 'root = "/x"\n');
  });

  it('CRI-O: a drop-in with runtime_path to the shim front; both runtimes are detected', () => {
    assert.match(renderCrioHandler({ shimPath: '/x/lsmns-runtime' }), /^\[crio\.runtime\.runtimes\.lsmns\]\nruntime_path = "\/x\/lsmns-runtime"\nruntime_type = "oci"/m);
    const d = tempDir('lsmns-w-');
    const main = nodeConfig(d);
    assert.equal(handlerConfigured({ containerdFiles: [main], crioDir: join(d, 'none') }), false);
    writeContainerdHandler({ mainConfig: main });
    assert.equal(handlerConfigured({ containerdFiles: [main], crioDir: join(d, 'none') }), true);
    writeCrioHandler({ confDir: join(d, 'crio.conf.d') });
    assert.equal(handlerConfigured({ containerdFiles: [], crioDir: join(d, 'crio.conf.d') }), true);
  });

  it('handlerConfigured reads the host\'s runtime configuration under hostRoot (the agent\'s /host)', () => {
    const host = tempDir('lsmns-host-');
    mkdirSync(join(host, 'etc', 'containerd'), { recursive: true });
    const main = nodeConfig(join(host, 'etc', 'containerd'));
    assert.equal(handlerConfigured({ hostRoot: host }), false);
    writeContainerdHandler({ mainConfig: main });
    assert.equal(handlerConfigured({ hostRoot: host }), true);
    assert.equal(handlerConfigured({ hostRoot: tempDir('lsmns-other-') }), false, 'only under that root');
    const crio = tempDir('lsmns-host-');
    writeCrioHandler({ confDir: join(crio, 'etc', 'crio', 'crio.conf.d') });
    assert.equal(handlerConfigured({ hostRoot: crio }), true);
  });

  it('containerd\'s config version: the file\'s version line, else (no file) containerd config dump, else a refusal naming 2|3|4', () => {
    const dir = tempDir('lsmns-ctd-');
    const file = (name: string, text?: string) => { const f = join(dir, name); if (text !== undefined) writeFileSync(f, text); return f; };
    const calls: string[][] = [];
    const dump = (out: string, status: number | null = 0) => (cmd: string, args: string[]) => { calls.push([cmd, ...args]); return { status, stdout: out }; };
    // containerd 2.4's own dump of a version 3 file (captured): it migrates the file in memory and says 4.
    const dump24 = dump("version = 4\nroot = '/var/lib/containerd'\nstate = '/run/containerd'\n");
    const v3 = file('v3.toml', 'version = 3\n');
    assert.deepEqual(containerdConfigVersion(v3, dump24), { version: 3, from: `the version line of ${v3}` });
    assert.deepEqual(calls, [], 'a file with a version line is read as it is');
    const v4 = file('v4.toml', "version = 4\nroot = '/var/lib/containerd'\n");
    assert.deepEqual(containerdConfigVersion(v4, dump('')), { version: 4, from: `the version line of ${v4}` });
    const none = file('none.toml');
    assert.deepEqual(containerdConfigVersion(none, dump24), { version: 4, from: `containerd --config ${none} config dump` });
    assert.deepEqual(calls[0], ['containerd', '--config', none, 'config', 'dump']);
    assert.deepEqual(containerdConfigVersion(none, dump('root = "/x"\nversion = 2\n')).version, 2);
    assert.throws(() => containerdConfigVersion(none, dump('', null)), (e: LsmnsError) => e.exitCode === 2 && /not on PATH/.test(e.message) && /does not exist/.test(e.message) && /--containerd 4/.test(e.remedy));
    calls.length = 0;
    const v1 = file('v1.toml', 'root = "/x"\n');
    assert.throws(() => containerdConfigVersion(v1, dump24), (e: LsmnsError) => e.exitCode === 2 && /has version 1 \(no version line\)/.test(e.message));
    assert.deepEqual(calls, [], 'a version 1 file is refused without asking containerd');
  });
});
