import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseNames, PLANS_DIR, runCase } from './golden-cases.js';

// Every folder under test/fixtures/plans is a case; `node scripts/update-goldens.mjs` rewrites the expectations,
// which are then read and reviewed like code.
describe('plan goldens', () => {
  const names = caseNames();
  it('has the cases the walking skeleton promises', () => {
    for (const c of ['bounded', 'bounded-host-profile', 'none', 'none-refused-host-profile', 'auto', 'multi-container-override', 'infeasible-no-apparmor', 'infeasible-selinux-only', 'infeasible-smack-only']) {
      assert.ok(names.includes(c), c);
    }
  });
  for (const name of names) {
    it(name, async () => {
      const got = await runCase(name);
      assert.equal(got.json, readFileSync(join(PLANS_DIR, name, 'plan.json'), 'utf8'), 'plan.json');
      assert.equal(got.text, readFileSync(join(PLANS_DIR, name, 'plan.txt'), 'utf8'), 'plan.txt');
    });
  }
});
