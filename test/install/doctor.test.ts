import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveOptions } from '../../src/config.js';
import { doctor, renderDoctorText, socketHealth, type DoctorDeps } from '../../src/install/doctor.js';
import { install } from '../../src/install/install.js';
import { renderContainerdHandler } from '../../src/install/runtime-handler.js';
import { tempDir } from '../kernel/sim/helpers.js';

const HOOKS = fileURLToPath(new URL('../../../hooks', import.meta.url));
// `containerd config dump` of a config with the handler from `lsmns install --containerd N --write --shim
// /opt/lsmns/bin/lsmns-runtime`, captured from Debian's containerd 1.6 (config version 2) and a built 2.4 (3).
const DUMPS = ['1.6', '2.4'].map((v) => [v, readFileSync(fileURLToPath(new URL(`../../../test/fixtures/install/containerd-${v}-config-dump.toml`, import.meta.url)), 'utf8')] as const);

/** A node laid out by install under a temp dir (served, sim), with a stand-in agent answering /healthz. */
async function node() {
  const dir = tempDir('lsmns-doctor-');
  install({
    options: { ...resolveOptions({}, {}), backend: 'sim' }, root: dir, destdir: '/', hooksDir: '/etc/containers/oci/hooks.d', unitDir: '/etc/systemd/system',
    served: true, systemd: false, runtime: 'runc', lsmnsBin: '/usr/lib/lsmns/bin/lsmns.cjs', node: '/usr/bin/node',
    frontSource: join(HOOKS, 'lsmns-runtime'), clientSource: join(HOOKS, 'lsmns-hook-client'),
  });
  const socket = join(dir, 'run/lsmns/agent.sock');
  const front = join(dir, 'opt/lsmns/bin/lsmns-runtime');
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 }); // the agent makes its socket's directory
  let agent: Server | null = createServer((_q, r) => r.end('ok\n'));
  await new Promise<void>((r) => agent!.listen(socket, r));
  let dump = `version = 2\n${renderContainerdHandler(2, { shimPath: front })}`;
  let apparmor = false;
  const deps: DoctorDeps = {
    env: {}, host: { appArmorEnabled: () => apparmor }, health: (s) => socketHealth(s, 1000),
    run: (cmd) => (cmd === 'containerd' ? { status: 0, stdout: dump } : { status: null, stdout: '' }),
  };
  const run = () => doctor({ config: join(dir, 'etc/lsmns/node.conf'), containerdConfig: '/etc/containerd/config.toml' }, deps);
  return {
    dir, front, run,
    stopAgent: async () => { await new Promise((r) => agent!.close(r)); agent = null; },
    setDump: (d: string) => { dump = d; },
    setAppArmor: (v: boolean) => { apparmor = v; },
    close: async () => { if (agent) await new Promise((r) => agent!.close(r)); },
  };
}

describe('lsmns doctor', () => {
  it('a healthy node: every check ok, ready', async () => {
    const n = await node();
    try {
      const r = await n.run();
      assert.deepEqual(r.checks.filter((c) => !c.ok), [], renderDoctorText(r));
      assert.equal(r.ready, true);
      assert.deepEqual(r.checks.map((c) => c.check), ['configuration', 'apparmor', 'backend', 'shim front', 'hook client', 'hooks.d gate', 'installed files', 'runtime handler', 'agent']);
      assert.match(renderDoctorText(r), /^ready: /m);
    } finally {
      await n.close();
    }
  });

  for (const [v, dump] of DUMPS) {
    it(`containerd ${v}'s live config: the handler's BinaryName, not the empty runtime_path listed before it`, async () => {
      const n = await node();
      try {
        n.setDump(dump.replaceAll('/opt/lsmns/bin/lsmns-runtime', n.front));
        const c = (await n.run()).checks.find((x) => x.check === 'runtime handler')!;
        assert.equal(c.ok, true, c.detail);
        assert.match(c.detail, new RegExp(`runtimes\\.lsmns\\] running ${n.front}$`));
      } finally {
        await n.close();
      }
    });
  }

  // Broken one way at a time: exactly one check fails, and its line names the cause.
  const broken: [string, (n: Awaited<ReturnType<typeof node>>) => Promise<void> | void, string, RegExp][] = [
    ['no agent', (n) => n.stopAgent(), 'agent', /agent\.sock: not reachable \(ENOENT\); served containers cannot start/],
    ['no handler', (n) => n.setDump('version = 2\n'), 'runtime handler', /no lsmns handler in the live config of containerd/],
    ['a handler running another binary', (n) => n.setDump(renderContainerdHandler(2, { shimPath: '/usr/bin/runc' })), 'runtime handler', /runs \/usr\/bin\/runc, not this node's front/],
    ...DUMPS.map(([v, dump]): [string, (n: Awaited<ReturnType<typeof node>>) => void, string, RegExp] => [`containerd ${v}'s live config naming another front`, (n) => n.setDump(dump), 'runtime handler', /runs \/opt\/lsmns\/bin\/lsmns-runtime, not this node's front/]),
    ['a front that is not executable', (n) => chmodSync(n.front, 0o644), 'shim front', /lsmns-runtime is not executable/],
    ['the sim on an AppArmor host', (n) => n.setAppArmor(true), 'backend', /^sim \(from .*node\.conf\) on a host where AppArmor is enabled/],
    ['an edited hooks.d gate', (n) => {
      const f = join(n.dir, 'etc/containers/oci/hooks.d/50-lsmns-createRuntime.json');
      const doc = JSON.parse(readFileSync(f, 'utf8'));
      doc.when.annotations = { '^lsmns\\.io/apparmor-namespace$': '.*' };
      writeFileSync(f, JSON.stringify(doc));
    }, 'hooks.d gate', /50-lsmns-createRuntime\.json: when\.annotations is .*may start without the hook/],
    ['a configuration with a bad line', (n) => writeFileSync(join(n.dir, 'etc/lsmns/node.conf'), `${readFileSync(join(n.dir, 'etc/lsmns/node.conf'), 'utf8')}LSMNS_BAKEND=sim\n`), 'configuration', /node\.conf:14: unknown key LSMNS_BAKEND/],
  ];
  for (const [name, breakIt, check, cause] of broken) {
    it(`${name}: the ${check} line fails and names the cause, with a remedy`, async () => {
      const n = await node();
      try {
        await breakIt(n);
        const r = await n.run();
        assert.equal(r.ready, false);
        const failed = r.checks.filter((c) => !c.ok);
        assert.ok(failed.some((c) => c.check === check && cause.test(c.detail) && c.remedy), renderDoctorText(r));
        if (check !== 'configuration') assert.deepEqual(failed.map((c) => c.check), [check], renderDoctorText(r));
      } finally {
        await n.close();
      }
    });
  }
});
