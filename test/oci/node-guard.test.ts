// No silent sim on a node: the hook and the shim with no node configuration and no backend refuse an annotated
// container on a host where AppArmor is enabled (the host is injected: this one has no AppArmor).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hookMain } from '../../src/oci/hook-main.js';
import { runtimeMain } from '../../src/oci/runtime-main.js';
import { tempDir } from '../kernel/sim/helpers.js';

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a' };
const apparmorHost = { appArmorEnabled: () => true };

function node() {
  const dir = tempDir('lsmns-guard-');
  const b = join(dir, 'bundle');
  mkdirSync(b);
  const write = (annotations: Record<string, string>) => writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, annotations }));
  // Where the default sim would go, given by flag so that the test never touches /var/lib/lsmns; no backend.
  const paths = ['--sim-state', join(dir, 'sim.json'), '--state-dir', join(dir, 'state'), '--policy-dir', join(dir, 'policies')];
  const out: string[] = [];
  const io = { env: { LSMNS_CONFIG: '' } as NodeJS.ProcessEnv, cwd: dir, stdout: (s: string) => out.push(s), stderr: (s: string) => out.push(s), host: apparmorHost };
  return { dir, b, write, paths, out, io };
}

describe('node guard: no silent sim on an AppArmor host', () => {
  it('lsmns hook: an annotated container is refused with exit 3 naming node.conf and the remedy; the sim is not created', async () => {
    const n = node();
    n.write(ANN);
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 1, bundle: n.b, annotations: ANN });
    assert.equal(await hookMain(['createRuntime', ...n.paths], state, n.io), 3);
    assert.match(n.out.join(''), /^lsmns hook createRuntime: .*no node configuration \(\/etc\/lsmns\/node\.conf.*remedy: run lsmns install/);
    assert.equal(existsSync(join(n.dir, 'sim.json')), false);
  });

  it('lsmns hook: an unannotated container passes (exit 0); an explicit --backend sim is obeyed', async () => {
    const n = node();
    n.write({});
    assert.equal(await hookMain(['createRuntime', ...n.paths], JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 1, bundle: n.b, annotations: {} }), n.io), 0);
    n.write(ANN);
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c2', status: 'creating', pid: 1, bundle: n.b, annotations: ANN });
    assert.equal(await hookMain(['createRuntime', '--backend', 'sim', ...n.paths], state, n.io), 0, n.out.join(''));
    assert.ok(existsSync(join(n.dir, 'sim.json')));
  });

  it('lsmns runtime: the annotated create is refused (exit 3, a runc log line), config.json unchanged, the runtime never run', async () => {
    const n = node();
    n.write(ANN);
    const before = readFileSync(join(n.b, 'config.json'), 'utf8');
    const log = join(n.dir, 'runc.log');
    n.io.env = { LSMNS_CONFIG: '', LSMNS_BIN: '/usr/local/bin/lsmns' };
    const code = await runtimeMain([...n.paths, '--runtime', '/bin/false', '--', '--log', log, '--log-format', 'json', 'create', '--bundle', n.b, 'c1'], n.io);
    assert.equal(code, 3, n.out.join(''));
    assert.match(JSON.parse(readFileSync(log, 'utf8')).msg, /no node configuration/);
    assert.equal(readFileSync(join(n.b, 'config.json'), 'utf8'), before);
    assert.equal(existsSync(join(n.dir, 'sim.json')), false);
  });
});
