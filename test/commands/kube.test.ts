import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeApiServer } from '../kube/fake-apiserver.js';
import { podObj } from '../kube/helpers.js';
import { waitFor } from '../support/wait.js';
import { bakedConfig } from '../../src/install/doctor.js';
import { BIN, cliEnv, lsmns } from './cli.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('lsmns agent --node and lsmns install --containerd/--crio (real CLI)', function () {
  this.timeout(30_000);

  it('agent --node: serves the socket and, beside it, the Kubernetes side; SIGTERM stops both', async () => {
    const e = cliEnv();
    const srv = await new FakeApiServer().start();
    try {
      srv.put('nodes', { metadata: { name: 'node-a' } });
      srv.put('namespaces', { metadata: { name: 'team-a', labels: { 'lsmns.io/enabled': 'true' } } });
      srv.put('pods', podObj('team-a', 'mine'));
      const kc = srv.writeKubeConfig(join(e.dir, 'kubeconfig'));
      const socket = join(e.dir, 'agent.sock');
      const p = spawn(process.execPath, [BIN, 'agent', '--node', 'node-a', '--kubeconfig', kc, '--socket', socket, '--health-port', '0'], { env: e.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      await waitFor(() => /"event":"kubernetes"/.test(err), 'the Kubernetes side', { timeoutMs: 20_000 });
      const health = Number(/"health":(\d+)/.exec(err)![1]);
      assert.equal((await fetch(`http://127.0.0.1:${health}/readyz`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${health}/metrics`)).text(), /lsmns_informer_cached_objects\{resource="pods",component="agent"\} 1/);
      assert.equal(srv.getObject('nodes', null, 'node-a')!.metadata.labels!['lsmns.io/apparmor'], 'true', 'node facts published');
      assert.ok(srv.requests.some((r) => r.path === '/api/v1/pods' && r.query.fieldSelector === 'spec.nodeName=node-a'));
      const exit = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
      p.kill('SIGTERM');
      assert.equal(await exit, 0);
    } finally {
      await srv.stop();
    }
  });

  it('agent --node: a SIGTERM while the Kubernetes side is still starting stops it too, and the agent exits 0', async () => {
    const e = cliEnv();
    const srv = await new FakeApiServer().start();
    try {
      srv.put('nodes', { metadata: { name: 'node-a' } });
      const kc = srv.writeKubeConfig(join(e.dir, 'kubeconfig'));
      for (let i = 0; i < 3; i++) {
        const socket = join(e.dir, `agent-${i}.sock`);
        const p = spawn(process.execPath, [BIN, 'agent', '--node', 'node-a', '--kubeconfig', kc, '--socket', socket, '--health-port', '0'], { env: e.env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
        const exit = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
        // As soon as the socket serves: the Kubernetes side (its modules, the backend, the informers) is still starting.
        await waitFor(() => existsSync(socket), 'the socket', { timeoutMs: 20_000 });
        p.kill('SIGTERM');
        const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('still running 10 s after SIGTERM'), 10_000))]);
        if (code !== 0) p.kill('SIGKILL');
        assert.equal(code, 0, err);
        const events = err.trim().split('\n').map((l) => (JSON.parse(l) as { event?: string }).event);
        const signal = events.indexOf('signal');
        assert.ok(signal >= 0, err);
        assert.deepEqual(events.slice(signal + 1).filter((x) => x === 'kubernetes'), [], 'nothing starts after the signal');
      }
    } finally {
      await srv.stop();
    }
  });

  it('install --containerd 2|3|4 and --crio print the handler for the shim front', () => {
    const e = cliEnv();
    const v2 = lsmns(e, ['install', '--containerd', '2', '--shim', '/opt/lsmns/bin/lsmns-runtime']);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout, /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.lsmns\.options\]\n {2}BinaryName = "\/opt\/lsmns\/bin\/lsmns-runtime"/);
    assert.match(lsmns(e, ['install', '--containerd', '3']).stdout, /io\.containerd\.cri\.v1\.runtime/);
    assert.match(lsmns(e, ['install', '--containerd', '4']).stdout, /^# lsmns runtime handler for containerd 2.4 and later \(config version 4\).*\n\[plugins\.'io\.containerd\.cri\.v1\.runtime'/);
    assert.match(lsmns(e, ['install', '--crio', '--shim', '/s']).stdout, /runtime_path = "\/s"/);
  });

  it('install --root DIR --containerd (no version): DIR\'s front, and the version containerd\'s config has, said where from', () => {
    const e = cliEnv();
    const cfg = join(e.dir, 'config.toml');
    writeFileSync(cfg, 'version = 2\n');
    const r = lsmns(e, ['install', '--root', e.dir, '--containerd', '--containerd-config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# containerd config version 2, from (containerd --config \S+ config dump|the version line of \S+)\.$/m);
    assert.match(r.stdout, new RegExp(`BinaryName = "${e.dir}/opt/lsmns/bin/lsmns-runtime"`));
    const none = lsmns(e, ['install', '--containerd', '--containerd-config', join(e.dir, 'none.toml'), '--output', 'json']);
    assert.equal(none.code, 2);
    assert.match(JSON.parse(none.stdout).remedy, /--containerd 2 .* --containerd 3/);
  });

  it('install --root DIR: the static front and client when make build compiled them, with DIR\'s node.conf baked in', () => {
    const e = cliEnv();
    const r = lsmns(e, ['install', '--root', e.dir, '--backend', 'sim', '--served']);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['lsmns-runtime', 'lsmns-hook-client']) {
      const installed = readFileSync(join(e.dir, 'opt/lsmns/bin', name));
      const shipped = existsSync(join(REPO, 'dist/native', name)) ? 'dist/native' : 'hooks';
      assert.equal(installed.subarray(0, 4).toString('latin1'), shipped === 'hooks' ? '#!/b' : '\x7fELF', `${name} from ${shipped}`);
      assert.equal(bakedConfig(installed), join(e.dir, 'etc/lsmns/node.conf'));
    }
  });

  it('install --containerd --write appends to the main config (with a backup); --crio --write makes a drop-in', () => {
    const e = cliEnv();
    const cfg = join(e.dir, 'config.toml');
    writeFileSync(cfg, 'version = 2\n');
    const w = lsmns(e, ['install', '--containerd', '2', '--write', '--containerd-config', cfg, '--crio', '--crio-conf-dir', join(e.dir, 'crio.d')]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(readFileSync(cfg, 'utf8'), /runtimes\.lsmns\]/);
    assert.equal(readFileSync(`${cfg}.lsmns-backup`, 'utf8'), 'version = 2\n');
    assert.match(readFileSync(join(e.dir, 'crio.d', '50-lsmns.conf'), 'utf8'), /\[crio\.runtime\.runtimes\.lsmns\]/);
    assert.match(w.stdout, /restart containerd/);
    const bad = lsmns(e, ['install', '--write']);
    assert.equal(bad.code, 2);
  });
});
