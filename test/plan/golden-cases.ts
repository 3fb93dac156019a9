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

/** The source tree's fixture folder (tests run from dist/, fixtures stay in test/). */
export const PLANS_DIR = fileURLToPath(new URL('../../../test/fixtures/plans/', import.meta.url));
export const GOLDEN_POLICY_DIR = '/etc/lsmns/policies';

export interface CaseArgs {
  lsm?: string;
  kernel?: string;
  attrDisplay?: DisplayInterface;
  nodeFacts?: string;
  delivery?: Delivery;
}

export function caseNames(): string[] {
  return readdirSync(PLANS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
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

/** The CLI flags that reproduce a case. */
export function caseFlags(name: string): string[] {
  const a = caseArgs(name);
  const f = ['--policy-dir', GOLDEN_POLICY_DIR];
  if (a.nodeFacts) f.push('--node-facts', join(PLANS_DIR, name, a.nodeFacts));
  else f.push('--lsm', a.lsm ?? DEFAULT_SIM_LSM, '--kernel', a.kernel ?? DEFAULT_SIM_KERNEL);
  if (a.attrDisplay) f.push('--attr-display', a.attrDisplay);
  if (a.delivery) f.push('--delivery', a.delivery);
  return f;
}

export async function runCase(name: string): Promise<{ json: string; text: string; exitCode: number }> {
  const podFile = join(PLANS_DIR, name, 'pod.yaml');
  // The pod is referred to by a relative path so that goldens do not depend on where the tree is checked out.
  const plans = await planInputs({ pod: podFile, readStdin: async () => '' }, caseFacts(name), { delivery: caseArgs(name).delivery ?? 'shim' });
  for (const p of plans) p.input.source.ref = `test/fixtures/plans/${name}/pod.yaml`;
  return { json: `${JSON.stringify(plansJson(plans), null, 2)}\n`, text: renderPlansText(plans), exitCode: exitCodeFor(plans) };
}
