import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_KEYS, DEFAULTS, nodeBackendRefusal, nodeOptions, parseNodeConfig, readNodeConfig, resolveOptions, systemHost, withConfig } from '../src/config.js';
import { LsmnsError } from '../src/errors.js';
import { tempDir } from './kernel/sim/helpers.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const refused = (where: string, what: RegExp) => (e: LsmnsError) => e.exitCode === 2 && e.message.startsWith(where) && what.test(e.message);

describe('config: node.conf', () => {
  it('reads KEY=value lines, blank lines and # comments; the value runs to the end of the line', () => {
    const c = parseNodeConfig('# lsmns\n\nLSMNS_BACKEND=securityfs\nLSMNS_SOCKET=/run/x y/agent.sock\nLSMNS_SHIM_MODE=served', '/etc/lsmns/node.conf');
    assert.deepEqual(c.values, { LSMNS_BACKEND: 'securityfs', LSMNS_SOCKET: '/run/x y/agent.sock', LSMNS_SHIM_MODE: 'served' });
  });

  const bad: [string, string, RegExp][] = [
    ['LSMNS_BACKEND=sim\nLSMNS_BAKCEND=securityfs\n', 'n.conf:2:', /unknown key LSMNS_BAKCEND/],
    ['LSMNS_BACKEND = sim\n', 'n.conf:1:', /is not a KEY=value line/],
    ['export LSMNS_BACKEND=sim\n', 'n.conf:1:', /is not a KEY=value line/],
    ['# ok\nLSMNS_BACKEND\n', 'n.conf:2:', /is not a KEY=value line/],
    [' LSMNS_BACKEND=sim\n', 'n.conf:1:', /is not a KEY=value line/],
    ['LSMNS_BACKEND=sim\nLSMNS_BACKEND=securityfs\n', 'n.conf:2:', /set twice/],
    ['LSMNS_STATE_DIR=/x\r\n', 'n.conf:1:', /not a KEY=value line/],
    ['PATH=/tmp\n', 'n.conf:1:', /unknown key PATH/],
  ];
  for (const [text, where, what] of bad) {
    it(`refuses ${JSON.stringify(text)} naming ${where}`, () => {
      assert.throws(() => parseNodeConfig(text, 'n.conf'), refused(where, what));
    });
  }

  it('a file named by --config or LSMNS_CONFIG must exist; its values are checked like flags, with file:key named', () => {
    const dir = tempDir('lsmns-config-');
    assert.throws(() => readNodeConfig(join(dir, 'none.conf'), {}), (e: LsmnsError) => e.exitCode === 2 && e.message.includes('none.conf: ENOENT'));
    assert.throws(() => readNodeConfig(undefined, { LSMNS_CONFIG: join(dir, 'none.conf') }), (e: LsmnsError) => e.exitCode === 2);
    writeFileSync(join(dir, 'n.conf'), 'LSMNS_BACKEND=simm\n');
    assert.throws(() => nodeOptions({ config: join(dir, 'n.conf') }, {}), (e: LsmnsError) => e.message.startsWith(`LSMNS_BACKEND in ${join(dir, 'n.conf')} "simm"`));
  });

  it('precedence: flag, then LSMNS_* variable, then the file, then the default; backendFrom says which', () => {
    const file = parseNodeConfig('LSMNS_BACKEND=securityfs\nLSMNS_STATE_DIR=/f/state\nLSMNS_SOCKET=/f/sock\n', 'n.conf');
    const env = { LSMNS_STATE_DIR: '/e/state', LSMNS_BACKEND: 'sim' };
    const cases: [Record<string, string>, NodeJS.ProcessEnv, string, string, string, string][] = [
      [{ stateDir: '/flag' }, env, '/flag', 'sim', 'env', '/f/sock'],
      [{}, env, '/e/state', 'sim', 'env', '/f/sock'],
      [{}, {}, '/f/state', 'securityfs', 'file', '/f/sock'],
      [{ backend: 'sim' }, {}, '/f/state', 'sim', 'flag', '/f/sock'],
      [{}, { LSMNS_BACKEND: '' }, '/f/state', 'securityfs', 'file', '/f/sock'],
    ];
    for (const [flags, e, stateDir, backend, from, socket] of cases) {
      const o = resolveOptions(flags, e, file);
      assert.deepEqual([o.stateDir, o.backend, o.backendFrom, o.socket, o.config], [stateDir, backend, from, socket, 'n.conf'], JSON.stringify([flags, e]));
    }
    const d = resolveOptions({}, {}, null);
    assert.deepEqual([d.backend, d.backendFrom, d.stateDir], [DEFAULTS.backend, 'default', DEFAULTS.stateDir]);
    assert.deepEqual(withConfig({ LSMNS_RUNTIME: 'crun', LSMNS_SOCKET: '' }, parseNodeConfig('LSMNS_RUNTIME=runc\nLSMNS_SOCKET=/s\n', 'x')), { LSMNS_RUNTIME: 'crun', LSMNS_SOCKET: '/s' });
  });

  it('no silent sim: only a default backend on a host with AppArmor enabled is refused (exit 3, file and remedy named)', () => {
    const on = { appArmorEnabled: () => true };
    const off = { appArmorEnabled: () => false };
    const err = nodeBackendRefusal(resolveOptions({}, {}, null), on);
    assert.equal(err?.exitCode, 3);
    assert.match(err!.message, /\/etc\/lsmns\/node\.conf/);
    assert.match(err!.remedy, /lsmns install.*LSMNS_BACKEND=securityfs/);
    assert.equal(nodeBackendRefusal(resolveOptions({}, {}, null), off), null, 'a host without AppArmor keeps the sim default');
    assert.equal(nodeBackendRefusal(resolveOptions({}, { LSMNS_BACKEND: 'sim' }, null), on), null, 'asked for explicitly');
    assert.equal(nodeBackendRefusal(resolveOptions({}, {}, parseNodeConfig('LSMNS_BACKEND=sim\n', 'n')), on), null, 'the node configuration says so');
  });

  it('the host probe: Y in the module parameter and apparmor/ in securityfs, both needed', () => {
    const dir = tempDir('lsmns-host-');
    const mod = join(dir, 'module');
    const sfs = join(dir, 'security');
    const probe = () => systemHost(sfs, mod).appArmorEnabled();
    assert.equal(probe(), false);
    for (const d of [`${mod}/apparmor/parameters`, `${sfs}/apparmor`]) mkdirSync(d, { recursive: true });
    writeFileSync(`${mod}/apparmor/parameters/enabled`, 'N\n');
    assert.equal(probe(), false);
    writeFileSync(`${mod}/apparmor/parameters/enabled`, 'Y\n');
    assert.equal(probe(), true);
  });

  it('the fronts and the clients, sh and static, accept exactly the keys config.ts knows', () => {
    const want = [...CONFIG_KEYS].sort();
    const shKeys = (f: string) => [...new Set([...readFileSync(join(REPO, f), 'utf8').matchAll(/\b(LSMNS_[A-Z_]+)=\*/g)].map((m) => m[1]!))].sort();
    assert.deepEqual(shKeys('hooks/lsmns-runtime'), want, 'hooks/lsmns-runtime');
    assert.deepEqual(shKeys('hooks/lsmns-hook-client'), want, 'hooks/lsmns-hook-client');
    // Both static programs take their one table from native/node-conf.h.
    for (const f of ['native/lsmns-hook-client.c', 'native/lsmns-runtime.c']) assert.match(readFileSync(join(REPO, f), 'utf8'), /^#include "node-conf\.h"$/m, f);
    const table = /conf_keys\[\] = \{([^}]*)\}/.exec(readFileSync(join(REPO, 'native/node-conf.h'), 'utf8'))![1]!;
    assert.deepEqual([...table.matchAll(/"(LSMNS_[A-Z_]+)"/g)].map((m) => m[1]).sort(), want, 'native/node-conf.h');
  });
});
