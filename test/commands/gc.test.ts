import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../../src/apply/gc.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { cliEnv, lsmns } from './cli.js';

describe('lsmns gc', () => {
  it('--dry-run says what would go and changes nothing; the real run removes it and says why; a second run finds nothing', async () => {
    const e = cliEnv();
    const b = join(e.dir, 'b');
    mkdirSync(b);
    const ann = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': 'u-1' };
    writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, annotations: ann }));
    // A container whose init has exited without its poststop: its pid is one that is gone.
    const gonePid = 2 ** 22 + 7;
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: process.pid, bundle: b, annotations: ann });
    assert.equal(lsmns(e, ['hook', 'createRuntime'], state).code, 0);
    const sim = new SimKernel({ path: e.sim });
    assert.equal(lsmns(e, ['gc', '--grace', '0']).stdout, 'nothing to collect\n', 'its container still runs (this process)');
    // Make the holder one that is gone, as a container that exited would leave it.
    const dir = join(e.stateDir, 'owners', `sim-${await sim.bootId()}`);
    const file = join(dir, 'tenant-a.json');
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    rec.holders.c1.pid = gonePid;
    writeFileSync(file, JSON.stringify(rec));
    const dry = lsmns(e, ['gc', '--grace', '0', '--dry-run']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /^would remove tenant-a \(uid:u-1\): every container that held it has exited \(c1: pid 4194311\)$/m);
    assert.deepEqual(await sim.listNamespaces(), ['tenant-a']);
    const real = lsmns(e, ['gc', '--grace', '0']);
    assert.match(real.stdout, /^removed tenant-a/m);
    assert.deepEqual(await sim.listNamespaces(), []);
    assert.equal(lsmns(e, ['gc', '--grace', '0']).stdout, 'nothing to collect\n');
  });

  it('refuses a --grace that is not a duration (exit 2)', () => {
    const r = lsmns(cliEnv(), ['gc', '--grace', '5x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--grace "5x" is not a duration/);
  });

  const durations: [string, number][] = [['0', 0], ['90', 90_000], ['90s', 90_000], ['5m', 300_000], ['1h', 3_600_000], ['250ms', 250]];
  for (const [v, ms] of durations) it(`reads --grace ${v} as ${ms} ms`, () => assert.equal(parseDuration(v), ms));
});
