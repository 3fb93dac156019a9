// The node policy store (SPEC §4): where a policy reference resolves, and reading it with a bounded wait.
// Resolution is pure; reading is the only I/O here. A pod reaches only its own namespace's policies
// and the cluster/ ones; names were validated by the schema, so no other path can be formed. The plan
// carries only the reference; the executor reads it through a PolicyStore it is given.

import { sha256Hex } from '../hash.js';
import { LsmnsError, ExitCode } from '../errors.js';
import { BoundedReadError, readFileBounded } from '../fsutil.js';
import type { PolicyRef } from '../plan/types.js';
import type { LintedProfile } from './lint.js';
import { policyFileOf } from './ref.js';

export { CLUSTER_SCOPE, policyFileOf } from './ref.js';

export const MAX_POLICY_BYTES = 1024 * 1024;


/** The file a policy reference resolves to in the store at policyDir. */
export function policyPath(ref: PolicyRef, policyDir: string): string {
  return `${policyDir.replace(/\/+$/, '')}/${policyFileOf(ref)}`;
}

/** Where the executor reads the policies that plans name. */
export interface PolicyStore {
  /** Where the includes of a policy resolve (the host's profile directory, then /etc/apparmor.d). */
  readonly includeDirs: string[];
  /** The file a reference resolves to, for messages. */
  locate(ref: PolicyRef): string;
  /** Reads a policy, waiting up to waitMs for one that has not reached the node yet. */
  read(ref: PolicyRef, o: { waitMs: number }): Promise<PolicySource>;
}

/** The node's store as the options name it: --policy-dir, with includes from --host-profile-dir, then /etc/apparmor.d. */
export function policyStoreOf(o: { policyDir: string; hostProfileDir: string }): FilePolicyStore {
  return new FilePolicyStore(o.policyDir, { includeDirs: [...new Set([o.hostProfileDir, '/etc/apparmor.d'])] });
}

/** The node's policy directory (--policy-dir), laid out as SPEC §4 says. */
export class FilePolicyStore implements PolicyStore {
  readonly includeDirs: string[];

  constructor(readonly dir: string, o: { includeDirs?: string[] } & Omit<ReadPolicyOptions, 'waitMs'> = {}) {
    this.includeDirs = o.includeDirs ?? [];
    this.o = o;
  }

  private readonly o: Omit<ReadPolicyOptions, 'waitMs'>;

  locate(ref: PolicyRef): string {
    return policyPath(ref, this.dir);
  }

  read(ref: PolicyRef, o: { waitMs: number }): Promise<PolicySource> {
    return readPolicy(ref.policy, this.locate(ref), { within: this.dir, ...this.o, waitMs: o.waitMs });
  }
}

export function digestOf(text: string): string {
  return `sha256:${sha256Hex(text)}`;
}

export interface PolicySource {
  ref: string;
  path: string;
  text: string;
  digest: string;
  /** Its profiles as the tenant lint read them, once it was linted: the ports then need not parse it again. */
  profiles?: LintedProfile[];
}

export interface ReadPolicyOptions {
  /** How long to wait for a policy that has not reached the node yet (SPEC §3 --policy-wait). */
  waitMs: number;
  /** The store's directory: a policy may be a symlink within it (a ConfigMap volume's ..data), never out of it. */
  within?: string;
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
      // Bounded whatever stat says, only a regular file, and only inside the store: a FIFO, /proc/self/pagemap
      // or a symlink to /etc/shadow is refused before a byte of it is read, so no message can quote it.
      const text = readFileBounded(path, { maxBytes: MAX_POLICY_BYTES, regularOnly: true, ...(o.within !== undefined ? { within: o.within } : {}) }).toString('utf8');
      return { ref, path, text, digest: digestOf(text) };
    } catch (e) {
      if (e instanceof BoundedReadError && ['TOO_LARGE', 'NOT_REGULAR', 'OUTSIDE', 'EISDIR'].includes(e.reason)) {
        throw new LsmnsError({
          code: 'PolicyInvalid', exitCode: ExitCode.InvalidInput, details: { path, ref },
          message: `policy ${ref} (annotation lsmns.io/apparmor-policy): ${e.reason === 'TOO_LARGE' ? `${path} is over the ${MAX_POLICY_BYTES}-byte limit` : e.message}`,
          remedy: e.reason === 'TOO_LARGE' ? 'split the policy or remove unused profiles' : 'make the policy a regular file inside the policy store (a symlink may point only within the store)',
        });
      }
      const code = e instanceof BoundedReadError ? e.reason : (e as NodeJS.ErrnoException).code;
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
