// Runs the real lsmns CLI (bin/lsmns.cjs) in a child process, with its own temporary state.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../kernel/sim/helpers.js';

export const BIN = fileURLToPath(new URL('../../../bin/lsmns.cjs', import.meta.url));

export interface CliEnv {
  dir: string;
  sim: string;
  stateDir: string;
  policyDir: string;
  env: NodeJS.ProcessEnv;
}

export function cliEnv(): CliEnv {
  const dir = tempDir('lsmns-cli-');
  const policyDir = join(dir, 'policies');
  mkdirSync(join(policyDir, 'team-a'), { recursive: true });
  writeFileSync(join(policyDir, 'team-a', 'web.aa'), 'profile web flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /secret r,\n}\n');
  const sim = join(dir, 'sim.json');
  const stateDir = join(dir, 'state');
  return { dir, sim, stateDir, policyDir, env: { ...process.env, LSMNS_SIM_STATE: sim, LSMNS_STATE_DIR: stateDir, LSMNS_POLICY_DIR: policyDir } };
}

export function lsmns(e: CliEnv, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: e.env, input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function podJson(annotations: Record<string, string>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a', uid: 'u-1', annotations }, spec: { containers: [{ name: 'web', image: 'x' }] }, ...extra });
}
