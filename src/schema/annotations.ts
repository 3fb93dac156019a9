// Annotation schema v1 (SPEC §1): parse, then validate, then normalize. All three are pure.
// The same keys come from Kubernetes pod annotations and from OCI config.json annotations.

import { type Problem } from '../errors.js';
import { containerNameRuleBroken, escapeValue, nameRuleBroken, NAME_EXAMPLE } from './names.js';
import { CONTAINER_PREFIX, Keys, PREFIX, isLsmnsKey } from './keys.js';

export { CONTAINER_PREFIX, Keys, PREFIX, isLsmnsKey } from './keys.js';

export const SCHEMA_VERSION = 1;

const KNOWN: ReadonlySet<string> = new Set(Object.values(Keys));
export const AUTO = 'auto';
export const DEFAULT_PROFILE = 'unconfined';
export const STACKING = ['bounded', 'none'] as const;
export const DISPLAY_LSM = ['auto', 'apparmor', 'none'] as const;
export type Stacking = (typeof STACKING)[number];
export type DisplayLsmMode = (typeof DISPLAY_LSM)[number];

export type EntryKind = 'namespace' | 'profile' | 'policy' | 'stacking' | 'hostProfile' | 'displayLsm' | 'container' | 'unknown';

export interface Entry {
  key: string;
  value: unknown;
  kind: EntryKind;
  /** For container.lsmns.io/<name>: the container name. */
  container?: string;
}

export interface ParsedAnnotations {
  /** True when any lsmns.io/ or container.lsmns.io/ key is present: the pod opted in. */
  present: boolean;
  /** The first MAX_LSMNS_KEYS of them, in key order. */
  entries: Entry[];
  /** How many lsmns keys there were (more than entries when over MAX_LSMNS_KEYS). */
  total: number;
}

/**
 * Six pod keys and one per container: a pod with more than this is refused as a whole, before any per-key work
 * (200,000 keys once overflowed the stack and took seconds to check one by one).
 */
export const MAX_LSMNS_KEYS = 256;

/** A validated, normalized request: what the pod asked for. */
export interface LsmnsSpec {
  schemaVersion: 1;
  namespace: { kind: 'named'; name: string } | { kind: 'auto' };
  profile: string;
  policy: { ref: string; scope: 'pod-namespace' | 'cluster' } | null;
  stacking: Stacking;
  hostProfile: string | null;
  displayLsm: DisplayLsmMode;
  containerProfiles: Record<string, string>;
}

/** The one reading of a pod's annotations: the lsmns entries, their values as recorded, and the verdict. */
export type SpecResult = { entries: Entry[]; annotations: Record<string, string> } & (
  | { status: 'absent' }
  | { status: 'invalid'; problems: Problem[] }
  | { status: 'ok'; spec: LsmnsSpec });

const KIND_BY_KEY: Record<string, EntryKind> = {
  [Keys.namespace]: 'namespace',
  [Keys.profile]: 'profile',
  [Keys.policy]: 'policy',
  [Keys.stacking]: 'stacking',
  [Keys.hostProfile]: 'hostProfile',
  [Keys.displayLsm]: 'displayLsm',
};

/** Picks the lsmns keys out of an annotation map, in a deterministic (sorted) order. */
export function parseAnnotations(annotations: Record<string, unknown> | null | undefined): ParsedAnnotations {
  const entries: Entry[] = [];
  let total = 0;
  if (annotations && typeof annotations === 'object') {
    const keys = Object.keys(annotations).filter(isLsmnsKey).sort();
    total = keys.length;
    for (const key of keys.slice(0, MAX_LSMNS_KEYS)) {
      const value = annotations[key];
      if (key.startsWith(CONTAINER_PREFIX)) {
        entries.push({ key, value, kind: 'container', container: key.slice(CONTAINER_PREFIX.length) });
      } else {
        entries.push({ key, value, kind: KIND_BY_KEY[key] ?? 'unknown' });
      }
    }
  }
  return { present: entries.length > 0, entries, total };
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

function suggestKey(key: string): string {
  let best: string = Keys.namespace;
  let bestD = Infinity;
  for (const k of KNOWN) {
    const dd = distance(key.toLowerCase(), k);
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  return bestD <= 6 ? `${best} (did you mean this?)` : `one of ${[...KNOWN].join(', ')}`;
}

function problem(key: string, value: unknown, rule: string, example: string): Problem {
  return { key: escapeValue(key, 120).slice(1, -1), value: typeof value === 'string' ? escapeValue(value) : `(${value === undefined ? 'absent' : typeof value})`, rule, example };
}

/** Every problem with the lsmns annotations, all at once, in key order. Empty means valid. */
export function validateAnnotations(parsed: ParsedAnnotations): Problem[] {
  const problems: Problem[] = [];
  if (!parsed.present) return problems;
  if (parsed.total > MAX_LSMNS_KEYS) {
    return [problem(PREFIX, `(${parsed.total} keys)`, `at most ${MAX_LSMNS_KEYS} ${PREFIX} and ${CONTAINER_PREFIX} keys: six for the pod and one per container`, `${Keys.namespace}: ${NAME_EXAMPLE}`)];
  }
  const byKind = new Map<EntryKind, Entry>();
  for (const e of parsed.entries) {
    if (e.kind !== 'container' && e.kind !== 'unknown') byKind.set(e.kind, e);
    if (typeof e.value !== 'string') {
      problems.push(problem(e.key, e.value, 'annotation values must be strings', `"${NAME_EXAMPLE}"`));
      continue;
    }
    const v = e.value;
    switch (e.kind) {
      case 'unknown':
        problems.push(problem(e.key, v, `unknown key under ${PREFIX} (schema version ${SCHEMA_VERSION}); a typo here would silently disable confinement`, suggestKey(e.key)));
        break;
      case 'namespace': {
        if (v === AUTO) break;
        const r = nameRuleBroken(v, 'namespace name');
        if (r) problems.push(problem(e.key, v, r, `${NAME_EXAMPLE} (or "auto")`));
        break;
      }
      case 'profile': {
        const r = nameRuleBroken(v, 'profile name');
        if (r) problems.push(problem(e.key, v, r, 'web'));
        break;
      }
      case 'hostProfile': {
        const r = nameRuleBroken(v, 'host profile name');
        if (r) problems.push(problem(e.key, v, r, 'cri-containerd.apparmor.d'));
        break;
      }
      case 'policy': {
        const r = policyRefRuleBroken(v);
        if (r) problems.push(problem(e.key, v, r, 'web (from the pod\'s namespace) or cluster/baseline'));
        break;
      }
      case 'stacking':
        if (!(STACKING as readonly string[]).includes(v)) problems.push(problem(e.key, v, `must be one of ${STACKING.join(', ')}`, 'bounded'));
        break;
      case 'displayLsm':
        if (!(DISPLAY_LSM as readonly string[]).includes(v)) problems.push(problem(e.key, v, `must be one of ${DISPLAY_LSM.join(', ')}`, 'auto'));
        break;
      case 'container': {
        const rc = containerNameRuleBroken(e.container!);
        if (rc) {
          problems.push(problem(e.key, v, `the key names an invalid container: ${rc}`, `${CONTAINER_PREFIX}app`));
          break;
        }
        const r = nameRuleBroken(v, 'profile name');
        if (r) problems.push(problem(e.key, v, r, 'web'));
        break;
      }
    }
  }
  if (!byKind.has('namespace')) {
    problems.push(problem(Keys.namespace, undefined, `required once any ${PREFIX} or ${CONTAINER_PREFIX} key is present`, `${NAME_EXAMPLE} (or "auto")`));
  }
  const stacking = byKind.get('stacking')?.value;
  const host = byKind.get('hostProfile');
  if (stacking === 'none' && host && typeof host.value === 'string') {
    problems.push(problem(Keys.stacking, 'none', `"none" replaces the host profile named by ${Keys.hostProfile}; the container must not escape host policy`, 'bounded'));
  }
  if (!byKind.has('policy')) {
    const profile = byKind.get('profile');
    if (profile && typeof profile.value === 'string' && profile.value !== DEFAULT_PROFILE && !nameRuleBroken(profile.value)) {
      problems.push(problem(Keys.profile, profile.value, `a new namespace holds no profiles, so a profile other than "${DEFAULT_PROFILE}" needs ${Keys.policy} to load it`, `${Keys.policy}: web`));
    }
    for (const e of parsed.entries) {
      if (e.kind === 'container' && typeof e.value === 'string' && e.value !== DEFAULT_PROFILE && !containerNameRuleBroken(e.container!) && !nameRuleBroken(e.value)) {
        problems.push(problem(e.key, e.value, `a new namespace holds no profiles, so this override needs ${Keys.policy} to load it`, `${Keys.policy}: web`));
      }
    }
  }
  return problems;
}

/** A policy reference: NAME (the pod's own Kubernetes namespace) or cluster/NAME. */
export function policyRefRuleBroken(v: string): string | null {
  if (v.startsWith('cluster/')) return nameRuleBroken(v.slice('cluster/'.length), 'policy name');
  const r = nameRuleBroken(v, 'policy name');
  if (r && /^[A-Za-z][A-Za-z0-9._-]*\/[A-Za-z][A-Za-z0-9._-]*$/.test(v)) {
    return "a policy is NAME (looked up in the pod's own namespace) or cluster/NAME; a pod cannot name another namespace's policy";
  }
  return r;
}

/** Builds the spec from annotations that validated cleanly. */
export function normalizeAnnotations(parsed: ParsedAnnotations): LsmnsSpec {
  const get = (k: EntryKind): string | undefined => {
    const e = parsed.entries.find((x) => x.kind === k);
    return typeof e?.value === 'string' ? e.value : undefined;
  };
  const ns = get('namespace')!;
  const policy = get('policy');
  const containerProfiles: Record<string, string> = {};
  for (const e of parsed.entries) if (e.kind === 'container') containerProfiles[e.container!] = e.value as string;
  return {
    schemaVersion: SCHEMA_VERSION,
    namespace: ns === AUTO ? { kind: 'auto' } : { kind: 'named', name: ns },
    profile: get('profile') ?? DEFAULT_PROFILE,
    policy: policy ? { ref: policy, scope: policy.startsWith('cluster/') ? 'cluster' : 'pod-namespace' } : null,
    stacking: (get('stacking') as Stacking | undefined) ?? 'bounded',
    hostProfile: get('hostProfile') ?? null,
    displayLsm: (get('displayLsm') as DisplayLsmMode | undefined) ?? 'auto',
    containerProfiles,
  };
}

/** parse + validate + normalize in one call: the only reading of the annotations a plan needs. */
export function readSpec(annotations: Record<string, unknown> | null | undefined): SpecResult {
  const parsed = parseAnnotations(annotations);
  const read = { entries: parsed.entries, annotations: recorded(parsed) };
  if (!parsed.present) return { ...read, status: 'absent' };
  const problems = validateAnnotations(parsed);
  if (problems.length > 0) return { ...read, status: 'invalid', problems };
  return { ...read, status: 'ok', spec: normalizeAnnotations(parsed) };
}

function recorded(parsed: ParsedAnnotations): Record<string, string> {
  const out: Record<string, string> = {};
  // Not String(value): a JSON object such as {"toString": 0} makes String throw.
  for (const e of parsed.entries) out[e.key] = typeof e.value === 'string' ? e.value : `(${e.value === null ? 'null' : typeof e.value})`;
  return out;
}

/** One readable line per problem; shared by the CLI, the hook, the agent and the webhook. */
export function formatProblem(p: Problem): string {
  return `${p.key}=${p.value}: ${p.rule}; for example: ${p.example}`;
}

/** Only the lsmns keys of an annotation map (what a plan records as its input). */
export function lsmnsAnnotations(annotations: Record<string, unknown> | null | undefined): Record<string, string> {
  return recorded(parseAnnotations(annotations));
}
