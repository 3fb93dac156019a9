import assert from 'node:assert/strict';
import { cliEnv, lsmns } from './cli.js';

describe('lsmns sim check', function () {
  this.timeout(60_000);
  const e = cliEnv();

  it('decides through the label stack and prints each layer (JSON)', () => {
    const r = lsmns(e, ['sim', 'check', '--pid', '1', '--path', '/etc/hosts', '--perm', 'r', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.deepEqual([d.allowed, d.layers.map((l: { label: string; verdict: string }) => [l.label, l.verdict])], [true, [['unconfined', 'unconfined']]]);
  });

  it('exits 2 on a bad permission or a missing task', () => {
    assert.equal(lsmns(e, ['sim', 'check', '--pid', '1', '--path', '/x', '--perm', 'z']).code, 2);
    const r = lsmns(e, ['sim', 'check', '--pid', '4242', '--path', '/x', '--perm', 'r']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no task 4242/);
  });
});
