// The node policy store (SPEC §4): where a policy name resolves, and reading it with a bounded wait.
// Resolution is pure; reading is the only I/O here. A pod reaches only its own namespace's policies
// and the cluster/ ones; names were validated by the schema, so no other path can be formed.

import { sha256Hex } from '../hash.js';
import { readFileSync, statSync } from 'node:fs';
import { LsmnsError, ExitCode } from '../errors.js';

export const CLUSTER_SCOPE = 'cluster';
export const MAX_POLICY_BYTES = 1024 * 1024;

/** The file a policy reference resolves to. `ref` is NAME or cluster/NAME (already validated). */
export function policyPath(ref: string, podNamespace: string | null, policyDir: string): string {
  const dir = policyDir.replace(/\/+$/, '');
  if (ref.startsWith(`${CLUSTER_SCOPE}/`)) return `${dir}/${CLUSTER_SCOPE}/${ref.slice(CLUSTER_SCOPE.length + 1)}.aa`;
  return podNamespace ? `${dir}/${podNamespace}/${ref}.aa` : `${dir}/${ref}.aa`;
}

export function digestOf(text: string): string {
  return `sha256:${sha256Hex(text)}`;
}

export interface PolicySource {
  ref: string;
  path: string;
  text: string;
  digest: string;
}

export interface ReadPolicyOptions {
  /** How long to wait for a policy that has not reached the node yet (SPEC §3 --policy-wait). */
  waitMs: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads a policy file, waiting up to waitMs for it to appear; a late policy is then applied, not refused forever. */
export async function readPolicy(ref: string, path: string, o: ReadPolicyOptions): Promise<PolicySource> {
  const sleep = o.sleep ?? defaultSleep;
  const now = o.now ?? Date.now;
  const deadline = now() + o.waitMs;
  for (;;) {
    try {
      const st = statSync(path);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      if (st.size > MAX_POLICY_BYTES) {
        throw new LsmnsError({ code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput, message: `policy ${ref} at ${path} is ${st.size} bytes, over the ${MAX_POLICY_BYTES}-byte limit`, remedy: 'split the policy or remove unused profiles' });
      }
      const text = readFileSync(path, 'utf8');
      return { ref, path, text, digest: digestOf(text) };
    } catch (e) {
      if (e instanceof LsmnsError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || now() >= deadline) {
        throw new LsmnsError({
          code: 'PolicyNotFound',
          exitCode: ExitCode.InvalidInput,
          message: `policy ${ref} (annotation lsmns.io/apparmor-policy) is not on this node at ${path} (${code ?? 'unreadable'}) after waiting ${o.waitMs} ms`,
          remedy: `publish it as a ConfigMap labelled lsmns.io/policy=true in the pod's namespace (or cluster/ for cluster-wide policies), or place the file at ${path}; the start is retried`,
          cause: e,
          details: { path, ref },
        });
      }
      await sleep(Math.min(100, Math.max(1, deadline - now())));
    }
  }
}
