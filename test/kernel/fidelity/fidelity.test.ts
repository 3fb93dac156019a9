// The fidelity suite on the sim: every scenario, run on a sim booted like the captured kernel, must observe
// exactly what the real kernel did (captures from make test-qemu in test/fixtures/fidelity/, one per kernel).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS, compareRuns, type ScenarioResult } from './scenarios.js';
import { FIXTURES, simRunFor, type Capture } from './sim-run.js';

describe('kernel fidelity: the sim against real-kernel captures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  it('has captures from both guest kernels (6.1 and 6.12)', () => {
    assert.ok(files.some((f) => f.startsWith('6.1.')) && files.some((f) => f.startsWith('6.12.')), files.join(', '));
  });
  it('counts a changed label, errno or missing step as a disagreement', () => {
    const run = (obs: [string, string][]) => ({ s: { observations: obs.map(([step, value]) => ({ step, value })), ms: 0 } });
    const kernel = run([['a', 'ok'], ['b', ':t:p (enforce)'], ['c', 'ENOENT']]);
    assert.deepEqual(compareRuns(kernel, kernel).disagreements, []);
    const c = compareRuns(kernel, run([['a', 'ok'], ['b', ':t:p (complain)']]));
    assert.deepEqual([c.total, c.agreed, c.disagreements.map((d) => d.step)], [3, 1, ['b', 'c']]);
  });
  for (const file of files) {
    describe(file.replace(/\.json$/, ''), () => {
      const kernel = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Capture;
      let sim: Record<string, ScenarioResult>;
      before(async () => { sim = await simRunFor(kernel.facts); });
      it('the capture covers every scenario, without harness errors', () => {
        assert.deepEqual(Object.keys(kernel.scenarios), SCENARIOS.map((s) => s.name));
        for (const [n, r] of Object.entries(kernel.scenarios)) assert.equal(r.error, undefined, `${n}: ${r.error}`);
      });
      for (const s of SCENARIOS) {
        it(`${s.name}: same observations as the kernel`, () => {
          const c = compareRuns({ [s.name]: kernel.scenarios[s.name]! }, { [s.name]: sim[s.name]! });
          assert.deepEqual(c.disagreements, [], `${c.agreed}/${c.total} agree`);
        });
      }
    });
  }
});
