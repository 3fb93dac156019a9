// Bench fixtures: a runnable busybox bundle and a fresh simulated node (sim file, policy store, state dir).

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimKernel } from '../src/kernel/sim/port.js';

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

/** A busybox bundle from `runc spec` (no network namespace, no terminal). */
export function benchBundle(dir: string, o: { name: string; annotations?: Record<string, string>; args: string[]; hooks?: Record<string, unknown[]> }): string {
  const b = join(dir, o.name);
  mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
  for (const t of ['sh', 'sleep', 'true']) symlinkSync('busybox', join(b, 'rootfs', 'bin', t));
  const spec = spawnSync('runc', ['spec'], { cwd: b, encoding: 'utf8' });
  if (spec.status !== 0) throw new Error(`runc spec: ${spec.stderr}`);
  const cfg = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  cfg.process.args = o.args;
  cfg.process.terminal = false;
  cfg.linux.namespaces = cfg.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
  if (o.annotations) cfg.annotations = o.annotations;
  if (o.hooks) cfg.hooks = o.hooks;
  writeFileSync(join(b, 'config.json'), JSON.stringify(cfg));
  return b;
}
