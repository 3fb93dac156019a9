// Golden plan cases: test/fixtures/plans/<case>/{pod.yaml, args.json?, node.json?, plan.json, plan.txt}.
// Shared by the golden test and scripts/update-goldens.mjs, so both read a case the same way.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulatedFacts, DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM, type DisplayInterface, type NodeFacts } from '../../src/kernel/facts.js';
import { readFactsFile } from '../../src/kernel/facts-source.js';
import { exitCodeFor, planInputs, plansJson } from '../../src/run/plan.js';
import { renderPlansText } from '../../src/render/plan-text.js';
import type { Delivery } from '../../src/plan/types.js';
import { FilePolicyStore } from '../../src/policy/store.js';

/** The source tree's fixture folder (tests run from dist/, fixtures stay in test/). */
export const PLANS_DIR = fileURLToPath(new URL('../../../test/fixtures/plans/', import.meta.url));

export interface CaseArgs {
  lsm?: string;
  kernel?: string;
  attrDisplay?: DisplayInterface;
  nodeFacts?: string;
  delivery?: Delivery;
}

/** The node the goldens are analysed against, by paths relative to the tree (tests and the updater run from its root). */
export const GOLDEN_NODE = {
  policyDir: 'test/fixtures/plans/_node/policies',
  hostProfileDir: 'test/fixtures/plans/_node/host-profiles',
  includeDirs: ['test/fixtures/policy/include'],
};

export function caseNames(): string[] {
  return readdirSync(PLANS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('_')).map((d) => d.name).sort();
}

export function caseArgs(name: string): CaseArgs {
  const f = join(PLANS_DIR, name, 'args.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as CaseArgs) : {};
}

export function caseFacts(name: string): NodeFacts {
  const a = caseArgs(name);
  if (a.nodeFacts) return readFactsFile(join(PLANS_DIR, name, a.nodeFacts));
  return simulatedFacts({ lsm: a.lsm ?? DEFAULT_SIM_LSM, kernel: a.kernel ?? DEFAULT_SIM_KERNEL, display: a.attrDisplay ?? null });
}

export async function runCase(name: string): Promise<{ json: string; text: string; exitCode: number }> {
  const podFile = join(PLANS_DIR, name, 'pod.yaml');
  // The pod is referred to by a relative path so that goldens do not depend on where the tree is checked out.
  const analysis = { policies: new FilePolicyStore(GOLDEN_NODE.policyDir, { includeDirs: GOLDEN_NODE.includeDirs }), hostProfileDir: GOLDEN_NODE.hostProfileDir, policyWaitMs: 5000 };
  const plans = await planInputs({ pod: podFile, readStdin: async () => '' }, caseFacts(name), { delivery: caseArgs(name).delivery ?? 'shim' }, analysis);
  for (const p of plans) p.input.source.ref = `test/fixtures/plans/${name}/pod.yaml`;
  return { json: `${JSON.stringify(plansJson(plans), null, 2)}\n`, text: renderPlansText(plans), exitCode: exitCodeFor(plans) };
}
