// Runs the fidelity scenarios on a sim booted like a captured (or live) kernel, for the unit and qemu suites.

import { fileURLToPath } from 'node:url';
import type { NodeFacts } from '../../../src/kernel/facts.js';
import { freshSim } from '../sim/helpers.js';
import { runScenarios, type ScenarioResult } from './scenarios.js';

export interface Capture {
  facts: NodeFacts;
  scenarios: Record<string, ScenarioResult>;
}

/** test/fixtures/fidelity/: one guest run per kernel release, written by make test-qemu with LSMNS_CAPTURE_FIDELITY=1. */
export const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/fidelity/', import.meta.url));

/** The same scenarios on a fresh sim booted with the kernel's LSM list and release. */
export async function simRunFor(facts: NodeFacts): Promise<Record<string, ScenarioResult>> {
  return runScenarios(freshSim({ lsm: facts.lsms.join(','), kernel: facts.kernel.release }));
}
