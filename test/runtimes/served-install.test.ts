import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LSMNS, SH_HOOK_CLIENT, busyboxBundle, runToFile, simEnv, withoutLsmns, type SimEnv } from './harness.js';
import { waitFor } from '../support/wait.js';

// `lsmns install --served --systemd` end to end: the agent runs from the written lsmns-agent.service under
// socket activation from the written lsmns-agent.socket (systemd-socket-activate plays systemd), and podman
// runs the thin client from the written hooks.d JSON. No Node process starts per container.

/** The values of `Key=` lines of a unit file. */
function unitValues(text: string, key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('lsmns install --served --systemd, with podman and a socket-activated agent', function () {
  this.timeout(180_000);
  let e: SimEnv;
  let agent: ChildProcess | null = null;
  let podman: (args: string[]) => ReturnType<typeof runToFile>;
  const hooksDir = () => join(e.dir, 'etc/containers/oci/hooks.d');
  const unitDir = () => join(e.dir, 'etc/systemd/system');

  before(async () => {
    e = await simEnv('lsmns-served-', { node: true });
    const inst = runToFile(process.execPath, [LSMNS, 'install', '--root', e.dir, '--backend', 'sim', '--served', '--systemd', '--hook-client', SH_HOOK_CLIENT, '--lsmns-bin', LSMNS], { dir: e.dir, env: withoutLsmns(process.env) });
    assert.equal(inst.status, 0, inst.out);
    const socketUnit = readFileSync(join(unitDir(), 'lsmns-agent.socket'), 'utf8');
    const service = readFileSync(join(unitDir(), 'lsmns-agent.service'), 'utf8');
    const [listen] = unitValues(socketUnit, 'ListenStream');
    assert.equal(listen, e.options.socket);
    // ExecStart words and Environment= pairs as systemd would read them (our paths need no quoting).
    const exec = unitValues(service, 'ExecStart')[0]!.split(' ');
    const envs = unitValues(service, 'Environment').flatMap((v) => ['-E', v]);
    const log = openSync(join(e.dir, 'agent.log'), 'w');
    agent = spawn('systemd-socket-activate', ['-l', listen!, ...envs, '-E', `PATH=${process.env.PATH}`, ...exec], { stdio: ['ignore', log, log] });
    closeSync(log);
    await waitFor(() => existsSync(listen!), 'the activation socket');
    const base = ['--root', join(e.dir, 'storage'), '--runroot', join(e.dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', '--hooks-dir', hooksDir()];
    podman = (args) => runToFile('podman', [...base, ...args], { dir: e.dir });
  });

  it('the hooks.d JSON runs lsmns-hook-client; the activated agent creates and removes the namespace', () => {
    const hook = JSON.parse(readFileSync(join(hooksDir(), '50-lsmns-createRuntime.json'), 'utf8'));
    assert.equal(hook.hook.path, join(e.dir, 'opt/lsmns/bin/lsmns-hook-client'));
    assert.match(readFileSync(hook.hook.path, 'utf8'), /^#!\/bin\/sh/, 'the sh client, as asked');
    const rootfs = join(busyboxBundle(e.dir), 'rootfs');
    const ann = ['--annotation', 'lsmns.io/apparmor-namespace=tenant-s', '--annotation', 'lsmns.io/apparmor-profile=p', '--annotation', 'lsmns.io/apparmor-policy=web'];
    const r = podman(['run', '-d', '--name', 'served', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000', ...ann, '--rootfs', rootfs, 'sleep', '30']);
    assert.equal(r.status, 0, `${r.out}\nagent: ${readFileSync(join(e.dir, 'agent.log'), 'utf8')}`);
    assert.deepEqual(e.namespaces(), [{ name: 'tenant-s', profiles: ['p'] }]);
    assert.equal(existsSync(join(e.options.stateDir, 'hook.log')), false, 'no standalone hook ran');
    assert.equal(podman(['rm', '-f', '-t', '0', 'served']).status, 0);
    assert.deepEqual(e.namespaces(), []);
  });

  it('--uninstall removes the hooks.d JSON and the units it wrote', () => {
    const u = runToFile(process.execPath, [LSMNS, 'install', '--uninstall', '--root', e.dir], { dir: e.dir, env: withoutLsmns(process.env) });
    assert.equal(u.status, 0, u.out);
    for (const f of [join(hooksDir(), '50-lsmns-createRuntime.json'), join(hooksDir(), '50-lsmns-poststop.json'), join(unitDir(), 'lsmns-agent.socket'), join(unitDir(), 'lsmns-agent.service')]) assert.equal(existsSync(f), false, f);
  });

  after(async () => {
    podman(['rm', '-f', '-t', '0', 'served']);
    if (agent && agent.exitCode === null) {
      const gone = new Promise((res) => agent!.once('exit', res));
      agent.kill('SIGTERM');
      await gone;
    }
  });
});
