#!/usr/bin/env node
// Rewrites test/fixtures/plans/<case>/{plan.json,plan.txt} from the current planner (after `make build`).
// Review the diff before committing: the goldens are the planner's contract.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { caseNames, runCase, PLANS_DIR } = await import('../dist/test/plan/golden-cases.js');
for (const name of caseNames()) {
  const r = await runCase(name);
  writeFileSync(join(PLANS_DIR, name, 'plan.json'), r.json);
  writeFileSync(join(PLANS_DIR, name, 'plan.txt'), r.text);
  console.log(`${name}: exit ${r.exitCode}`);
}
