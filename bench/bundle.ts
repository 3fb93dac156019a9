// Bench fixture: a fresh simulated node (sim file, policy store, state dir) on tmpfs. Bundles: the runtime tests' harness.

import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimKernel } from '../src/kernel/sim/port.js';
import { runToFile } from '../test/runtimes/harness.js';

export interface BenchSim {
  dir: string;
  /** LSMNS_* for the hooks and the agent. */
  env: Record<string, string>;
  namespaces(): string[];
}

/**
 * The node's lsmns state (the sim file, which stands for kernel memory, and the per-boot ownership markers)
 * goes on tmpfs when there is one, as securityfs and /run are on a node: on this host's ext4 every
 * replace-by-rename waits for a data flush (auto_da_alloc), which measures the disk, not lsmns.
 */
export function stateBase(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

export function benchSim(prefix: string): BenchSim {
  const dir = mkdtempSync(join(stateBase(), prefix));
  const policyDir = join(dir, 'policies');
  mkdirSync(policyDir, { recursive: true });
  writeFileSync(join(policyDir, 'web.aa'), 'profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n}\n');
  const sim = join(dir, 'sim.json');
  const env = { LSMNS_BACKEND: 'sim', LSMNS_SIM_STATE: sim, LSMNS_STATE_DIR: join(dir, 'state'), LSMNS_POLICY_DIR: policyDir };
  return { dir, env, namespaces: () => Object.keys(new SimKernel({ path: sim }).store.read().root.children) };
}

/** runc create + start + delete of one container. create's init keeps its stdio until start: runToFile gives it
 * a file, never a pipe that spawnSync would wait on. */
export function runcLifecycle(root: string, dir: string, bundle: string, id: string): void {
  for (const args of [['create', '--bundle', bundle, id], ['start', id], ['delete', '--force', id]]) {
    const r = runToFile('runc', ['--root', root, ...args], { dir });
    if (r.status !== 0) throw new Error(`runc ${args.join(' ')}: ${r.out}`);
  }
}
