import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { cliEnv, lsmns, type CliEnv } from '../commands/cli.js';
import { bundle, ociState } from '../support/bundle.js';

const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': 'u-1' };

describe('lsmns hook (the standalone front door, through bin/lsmns.cjs)', () => {
  it('createRuntime then poststop: exit 0, the namespace comes and goes, and the log file records it', async () => {
    const e = cliEnv();
    const b = bundle(e, ANN);
    const namespaces = () => new SimKernel({ path: e.sim }).listNamespaces();
    assert.equal(lsmns(e, ['hook', 'createRuntime'], ociState(b, 'c1', ANN)).code, 0);
    assert.deepEqual(await namespaces(), ['tenant-a']);
    assert.equal(lsmns(e, ['hook', 'poststop'], ociState(b, 'c1', ANN)).code, 0);
    assert.deepEqual(await namespaces(), []);
    const lines = readFileSync(join(e.stateDir, 'hook.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.kind === 'createNamespace' && l.outcome === 'done'));
    assert.ok(lines.some((l) => l.kind === 'removeNamespace' && l.outcome === 'done'));
  });

  it('a hostile annotation: exit 2, one stderr line naming the key and the remedy, the sim file untouched', () => {
    const e = cliEnv();
    const bad = { ...ANN, 'lsmns.io/apparmor-profile': 'web\nevil' };
    const r = lsmns(e, ['hook', 'createRuntime'], ociState(bundle(e, bad), 'c1', bad));
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^lsmns hook createRuntime: .*lsmns\.io\/apparmor-profile.*remedy: /);
    assert.equal(existsSync(e.sim), false);
  });

  it('an unannotated container exits 0 with no output and no state', () => {
    const e = cliEnv();
    const r = lsmns(e, ['hook', 'createRuntime'], ociState(bundle(e, { foo: 'bar' }), 'c1', { foo: 'bar' }));
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    assert.equal(existsSync(e.sim), false);
    assert.equal(existsSync(e.stateDir), false);
  });

  it('bad stages, bad state JSON and relative bundles are exit 2 with a reason', () => {
    const e = cliEnv();
    const b = bundle(e, ANN);
    const cases: [string[], string, RegExp][] = [
      [['hook', 'bogus'], ociState(b, 'c1', ANN), /unknown hook stage "?bogus/],
      [['hook', 'createRuntime'], '{"ociVersion":', /not valid JSON/],
      [['hook', 'createRuntime'], ociState('relative/dir', 'c1', ANN), /not absolute/],
      [['hook', 'createRuntime', '--policy-wait', 'soon'], ociState(b, 'c1', ANN), /--policy-wait/],
    ];
    for (const [args, input, re] of cases) {
      const r = lsmns(e, args, input);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(existsSync(e.sim), false);
  });

  describe('idempotence (issue 16)', () => {
    const markers = (e: CliEnv) => {
      const root = join(e.stateDir, 'owners');
      return existsSync(root) ? readdirSync(root).flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(root, d, f), 'utf8')) as { refs: string[] })) : [];
    };
    const stopped = (b: string, id: string) => ociState(b, id, ANN).replace('"creating"', '"stopped"');

    it('poststop without a create is quiet and changes nothing', () => {
      const e = cliEnv();
      const b = bundle(e, ANN);
      const r = lsmns(e, ['hook', 'poststop'], stopped(b, 'never'));
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
      assert.deepEqual(markers(e), []);
      assert.doesNotMatch(lsmns(e, ['sim', 'show']).stdout, /:tenant-a:/);
    });

    it('create twice holds one reference; poststop twice is quiet and leaves nothing', () => {
      const e = cliEnv();
      const b = bundle(e, ANN);
      for (let i = 0; i < 2; i++) assert.equal(lsmns(e, ['hook', 'createRuntime'], ociState(b, 'c1', ANN)).code, 0);
      assert.deepEqual(markers(e).map((m) => m.refs), [['c1']]);
      for (let i = 0; i < 2; i++) {
        const r = lsmns(e, ['hook', 'poststop'], stopped(b, 'c1'));
        assert.deepEqual([r.code, r.stderr], [0, '']);
      }
      assert.deepEqual(markers(e), []);
      assert.doesNotMatch(lsmns(e, ['sim', 'show']).stdout, /:tenant-a:/);
    });
  });
});
