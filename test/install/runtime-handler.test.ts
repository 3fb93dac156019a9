import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { handlerConfigured, renderContainerdHandler, renderCrioHandler, writeContainerdHandler, writeCrioHandler } from '../../src/install/runtime-handler.js';
import { tempDir } from '../kernel/sim/helpers.js';

const hasContainerd = spawnSync('containerd', ['--version'], { encoding: 'utf8' }).status === 0;

describe('install/runtime-handler', () => {
  it('containerd 1.6/1.7 (config v2): the real containerd reads the drop-in as handler lsmns with the shim and the annotations', function () {
    if (!hasContainerd) this.skip();
    const d = tempDir('lsmns-ctd-');
    const snippet = join(d, 'conf.d', 'lsmns.toml');
    mkdirSync(join(d, 'conf.d'));
    writeFileSync(snippet, renderContainerdHandler(2, { shimPath: '/opt/lsmns/bin/lsmns-runtime', systemdCgroup: false }));
    writeFileSync(join(d, 'config.toml'), `version = 2\nroot = "${d}/root"\nstate = "${d}/state"\nimports = ["${d}/conf.d/*.toml"]\n`);
    const r = spawnSync('containerd', ['--config', join(d, 'config.toml'), 'config', 'dump'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const dump = r.stdout;
    const at = dump.indexOf('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.lsmns]');
    assert.ok(at >= 0, 'containerd lists the lsmns runtime');
    const section = dump.slice(at, dump.indexOf('\n\n', dump.indexOf('.runtimes.lsmns.options]', at)));
    assert.match(section, /pod_annotations = \["lsmns\.io\/\*", "container\.lsmns\.io\/\*"\]/);
    assert.match(section, /runtime_type = "io\.containerd\.runc\.v2"/);
    assert.match(section, /BinaryName = "\/opt\/lsmns\/bin\/lsmns-runtime"/);
  });

  it('containerd 2.x (config v3) uses the io.containerd.cri.v1.runtime plugin table', () => {
    const t = renderContainerdHandler(3);
    assert.match(t, /^version = 3$/m);
    assert.match(t, /^\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.lsmns\]$/m);
    assert.match(t, /^\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.lsmns\.options\]\n {2}BinaryName = "\/opt\/lsmns\/bin\/lsmns-runtime"$/m);
  });

  it('CRI-O: runtime_path to the shim front', () => {
    const t = renderCrioHandler({ shimPath: '/x/lsmns-runtime' });
    assert.match(t, /^\[crio\.runtime\.runtimes\.lsmns\]\nruntime_path = "\/x\/lsmns-runtime"\nruntime_type = "oci"/m);
  });

  it('writes drop-ins only, says when containerd\'s main config must import them, and detects the handler', () => {
    const d = tempDir('lsmns-w-');
    const main = join(d, 'config.toml');
    writeFileSync(main, 'version = 2\n');
    const w = writeContainerdHandler(renderContainerdHandler(2), { confDir: join(d, 'conf.d'), mainConfig: main });
    assert.equal(w.path, join(d, 'conf.d', 'lsmns.toml'));
    assert.match(w.note!, /imports/);
    writeFileSync(main, `version = 2\nimports = ["${d}/conf.d/*.toml"]\n`);
    assert.equal(writeContainerdHandler(renderContainerdHandler(2), { confDir: join(d, 'conf.d'), mainConfig: main }).note, null);
    assert.equal(handlerConfigured({ containerdFiles: [main], crioDir: join(d, 'none') }), false);
    assert.equal(handlerConfigured({ containerdFiles: [w.path], crioDir: join(d, 'none') }), true);
    const c = writeCrioHandler(renderCrioHandler(), { confDir: join(d, 'crio.conf.d') });
    assert.equal(handlerConfigured({ containerdFiles: [], crioDir: join(d, 'crio.conf.d') }), true, c.path);
  });
});
