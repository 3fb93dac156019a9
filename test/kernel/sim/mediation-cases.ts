// Generated mediation cases (issue 14 item 5): pairs of a host profile (root namespace) and a tenant profile (a
// policy namespace), stacked as lsmns stacks them (host//&:med:tenant), and file accesses under a scratch tree.
// The same cases run in the qemu guests (a real open by a task under that label) and in the sim (checkAccess);
// the two must agree on every one. Deterministic: a fixed seed, so both sides see the same cases.

import { checkAccess } from '../../../src/kernel/sim/mediate.js';
import { loadPolicyInto } from '../../../src/kernel/sim/model.js';
import { lintPolicy } from '../../../src/policy/lint.js';

const parsePolicy = (text: string) => lintPolicy(text, 'test', { as: 'host', includeDirs: [] });
import { freshSim, policy } from './helpers.js';

export const MED_ROOT = '/tmp/lsmns-med';
export const MED_NS = 'med';
export const MED_FILES = ['a', 'b1', 'k', 'x.conf', 'pps0', 'pps12', 'sys/kernel/shmmax', 'sys/kernel/hostname', 'sys/net/ip_forward', 'd/e/f', '1/attr', 'owned/z'].map((f) => `${MED_ROOT}/${f}`);
const GLOBS = ['**', '*', 'sys/[^k]**', 'sys/kernel/{?,??,[^s][^h][^m]**}', 'pps[0-9]*', '{a,b?,d/**}', '{[^1-9],[^1-9][^0-9]}/**', '?', '*.conf', 'd/*/f', '{,sys/}**', 'sys/**', '[^a]*', 'owned/*'];
const PERMS = ['r', 'w', 'rw'];
// What the task itself needs beside the scratch tree: exec and map the static busybox that does the access.
const BASE = '  /{usr/,}bin/busybox mrix,\n';

export interface MedPair { host: string; hostName: string; tenant: string; tenantName: string }
export interface MedCase { pair: number; path: string; perm: 'r' | 'w' }

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32; };
}

function profile(name: string, next: () => number, allows: number, denies: number, broad: boolean): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  const rules: string[] = broad ? [`  ${MED_ROOT}/** rw,`] : [];
  for (let i = 0; i < allows; i++) rules.push(`  ${next() < 0.2 ? 'owner ' : ''}${MED_ROOT}/${pick(GLOBS)} ${pick(PERMS)},`);
  for (let i = 0; i < denies; i++) rules.push(`  deny ${MED_ROOT}/${pick(GLOBS)} ${pick(PERMS)},`);
  return `profile ${name} {\n${BASE}${rules.join('\n')}\n}\n`;
}

// containerd 1.6's /proc rule and today's (which adds "/" to the negated classes), over the scratch tree: a
// negated class matches "/", so the first also denies writes to sys/kernel/shmmax (README, Policy analysis).
const CONTAINERD_DENIES = [
  `deny ${MED_ROOT}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/** w,`,
  `deny ${MED_ROOT}/{[^1-9/],[^1-9/][^0-9/],[^1-9s/][^0-9y/][^0-9s/],[^1-9/][^0-9/][^0-9/][^0-9/]*}/** w,`,
];

/** 16 generated profile pairs and 2 fixed ones, each checked on every file for r and w: 432 cases. */
export function mediationCases(seed = 14): { pairs: MedPair[]; cases: MedCase[] } {
  const next = rng(seed);
  const pairs: MedPair[] = [];
  const cases: MedCase[] = [];
  for (let i = 0; i < 16; i++) {
    const hostName = `medhost${i}`; const tenantName = `medt${i}`;
    // The host is broad with a few denies, like a runtime default; the tenant is narrower.
    const host = profile(hostName, next, Math.floor(next() * 2), 1 + Math.floor(next() * 2), next() < 0.75);
    const tenant = profile(tenantName, next, 2 + Math.floor(next() * 3), Math.floor(next() * 2), next() < 0.25);
    pairs.push({ hostName, tenantName, host, tenant });
  }
  CONTAINERD_DENIES.forEach((deny, j) => {
    const hostName = `medhost-containerd${j}`; const tenantName = `medt-containerd${j}`;
    pairs.push({ hostName, tenantName, host: `profile ${hostName} {\n  file,\n  ${deny}\n}\n`, tenant: `profile ${tenantName} {\n${BASE}  ${MED_ROOT}/** rw,\n}\n` });
  });
  pairs.forEach((_, i) => { for (const path of MED_FILES) for (const perm of ['r', 'w'] as const) cases.push({ pair: i, path, perm }); });
  return { pairs, cases };
}

export const medLabel = (p: MedPair): string => `${p.hostName}//&:${MED_NS}:${p.tenantName}`;

/** The sim's answers: every pair loaded as the guest loads it, every case decided by checkAccess. */
export async function simMediation(seed = 14): Promise<boolean[]> {
  const { pairs, cases } = mediationCases(seed);
  const k = freshSim({ lsm: 'capability,apparmor' });
  await k.createNamespace(MED_NS);
  const pids: number[] = [];
  for (const p of pairs) {
    await k.store.mutate((s) => loadPolicyInto(s, 1, '', parsePolicy(p.host), 'd', 'replace'));
    await k.loadPolicy(MED_NS, policy(p.tenant, p.tenantName));
    pids.push((await k.spawnTask({ comm: 'busybox', execLabel: medLabel(p) })).pid);
  }
  const s = k.store.read();
  // The guest runs as root on root-owned files, so owner rules apply.
  return cases.map((c) => checkAccess(s, pids[c.pair]!, c.path, c.perm, { owner: true }).allowed);
}
