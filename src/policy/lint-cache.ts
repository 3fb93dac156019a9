// The tenant lint's verdict, kept per (policy digest, include directories) in the state dir: the first container
// that loads a policy on a node (or the agent, when it syncs the policy ahead) parses and lints it, and every
// later start only reads the profile list. Parsing a policy that includes abstractions/base reads and parses
// dozens of files, which a container start must not pay each time. The parser loads only on a miss.

import { readFileSync } from 'node:fs';
import { FORMAT_VERSION, formatVersionOf } from '../format.js';
import { writeFileAtomic } from '../fsutil.js';
import { sha256Hex } from '../hash.js';
import type { LintedProfile } from './lint.js';
import type { PolicySource } from './store.js';

export interface LintCacheOptions {
  stateDir: string;
  includeDirs: string[];
}

function cacheFile(src: PolicySource, o: LintCacheOptions): string {
  return `${o.stateDir.replace(/\/+$/, '')}/policy-lint/${sha256Hex(`${src.digest}\0tenant\0${o.includeDirs.join('\0')}`).slice(0, 40)}.json`;
}

function cached(file: string, digest: string): LintedProfile[] | null {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { formatVersion?: unknown; digest?: unknown; profiles?: unknown };
    return formatVersionOf(c.formatVersion) && c.digest === digest && Array.isArray(c.profiles) ? c.profiles as LintedProfile[] : null;
  } catch {
    return null;
  }
}

/** The policy's profiles, linted as a tenant's (a PolicyError, exit 2, when it escapes or does not parse). */
export async function lintedProfiles(src: PolicySource, o: LintCacheOptions): Promise<LintedProfile[]> {
  const file = cacheFile(src, o);
  const hit = cached(file, src.digest);
  if (hit) return hit;
  const { lintPolicy } = await import('./lint.js');
  const profiles = lintPolicy(src.text, src.path, { as: 'tenant', includeDirs: o.includeDirs }).profiles;
  try {
    writeFileAtomic(file, JSON.stringify({ formatVersion: FORMAT_VERSION, digest: src.digest, profiles }), { dirMode: 0o700 });
  } catch {
    // An unwritable state dir costs the next start a parse, nothing else.
  }
  return profiles;
}
