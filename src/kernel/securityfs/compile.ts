// Compiled policy, cached per (policy digest, kernel feature set) in the state dir (SPEC §5): a warm load is
// one write of the cached binary, so apparmor_parser is not on the container-start path. execa is imported
// only on a cache miss, which keeps the hook's import graph small.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../../fsutil.js';
import { sha256Hex } from '../../hash.js';
import { ExitCode, LsmnsError } from '../../errors.js';
import type { PolicySource } from '../../policy/store.js';

export const PARSER_TIMEOUT_MS = 60_000;

const featureDigests = new Map<string, string>();

/** sha256 over every file under <apparmor>/features (path and content): what the compiler targets. */
export function featuresDigest(aaDir: string): string {
  const known = featureDigests.get(aaDir);
  if (known) return known;
  const lines: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p, `${rel}/${e.name}`);
      else lines.push(`${rel}/${e.name}=${readFileSync(p, 'latin1')}\n`);
    }
  };
  walk(`${aaDir}/features`, '');
  const d = sha256Hex(lines.join('')).slice(0, 32);
  featureDigests.set(aaDir, d);
  return d;
}

export interface CompiledPolicy {
  blob: Buffer;
  cached: boolean;
  path: string;
  compileMs: number;
}

export interface CompileOptions {
  stateDir: string;
  aaDir: string;
  /** Where the compiler reads the kernel's features from; the default location needs no flag. */
  defaultLocation: boolean;
  timeoutMs?: number;
}

export function cachePath(o: CompileOptions, policy: PolicySource): string {
  return `${o.stateDir.replace(/\/+$/, '')}/policy-cache/${policy.digest.replace(/^sha256:/, '')}-${featuresDigest(o.aaDir)}.bin`;
}

/** The cached binary for this policy and kernel, compiling it with apparmor_parser -Q -S on a miss. */
export async function compiledPolicy(policy: PolicySource, o: CompileOptions): Promise<CompiledPolicy> {
  const path = cachePath(o, policy);
  try {
    if (statSync(path).size > 0) return { blob: readFileSync(path), cached: true, path, compileMs: 0 };
  } catch {
    // a miss: compile below
  }
  const dir = path.slice(0, path.lastIndexOf('/'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const src = `${dir}/.src-${process.pid}.aa`;
  writeFileSync(src, policy.text, { mode: 0o600 });
  const args = ['-Q', '-K', '-S', ...(o.defaultLocation ? [] : ['--kernel-features', `${o.aaDir}/features`]), src];
  const { execa } = await import('execa');
  const t0 = performance.now();
  const r = await execa('apparmor_parser', args, { encoding: 'buffer', reject: false, timeout: o.timeoutMs ?? PARSER_TIMEOUT_MS, stdin: 'ignore' });
  rmSync(src, { force: true });
  const compileMs = Math.round(performance.now() - t0);
  const stderr = Buffer.from(r.stderr ?? []).toString('utf8').trim();
  const blob = Buffer.from(r.stdout ?? []);
  if (r.timedOut || r.exitCode !== 0 || blob.length === 0) {
    const why = r.timedOut ? `timed out after ${o.timeoutMs ?? PARSER_TIMEOUT_MS} ms` : r.failed && r.exitCode === undefined ? (r.shortMessage ?? 'could not run') : `exit ${r.exitCode}`;
    throw new LsmnsError({
      code: 'PolicyCompileFailed',
      exitCode: ExitCode.InvalidInput,
      message: `apparmor_parser could not compile policy ${policy.ref} (${policy.path}): ${why}${stderr ? `: ${stderr.split('\n').slice(0, 5).join(' | ').replaceAll(src, policy.path)}` : ''}`,
      remedy: 'fix the policy (check it with apparmor_parser -Q -K), and make sure the apparmor package is installed on the node',
    });
  }
  writeFileAtomic(path, blob);
  return { blob, cached: false, path, compileMs };
}
