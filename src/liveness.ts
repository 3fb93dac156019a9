// Liveness of a container without Kubernetes (issue 16): its init's pid and that process's start time
// (/proc/<pid>/stat field 22, in clock ticks since boot), recorded at createRuntime from the OCI state. A pid is
// reused; a pid with the same start time in the same pid namespace is the same process. Only node:fs: this runs
// on the hook's cold path.

import { readFileSync, readlinkSync } from 'node:fs';

export interface Holder {
  pid: number;
  /** /proc/<pid>/stat field 22. */
  start: string;
  /** The pid namespace the pid was read in (readlink /proc/self/ns/pid); another one cannot judge it. */
  pidns: string | null;
}

/** Field 22 of /proc/<pid>/stat, or null when there is no such process. The comm (field 2) may hold spaces and ")". */
export function procStartTime(pid: number, proc = '/proc'): string | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`${proc}/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const start = rest[19];
  return start !== undefined && /^\d+$/.test(start) ? start : null;
}

/** This process's pid namespace never changes (setns and unshare move only its children): read it once. */
let ownPidns: { value: string | null } | null = null;

export function ownPidNamespace(proc = '/proc'): string | null {
  if (proc === '/proc' && ownPidns) return ownPidns.value;
  let value: string | null;
  try {
    value = readlinkSync(`${proc}/self/ns/pid`);
  } catch {
    value = null;
  }
  if (proc === '/proc') ownPidns = { value };
  return value;
}

let own: Holder | null = null;

/**
 * This process as a lock holder, read once: the agent takes two file locks per served call (the pod's, the sim's),
 * and its pid, start time and pid namespace stay what they were.
 */
export function ownHolder(): Holder {
  own ??= { pid: process.pid, start: procStartTime(process.pid) ?? '0', pidns: ownPidNamespace() };
  return own;
}

/** The holder record for a pid, or null when this process cannot see it (then nothing is recorded). */
export function holderOf(pid: number | undefined, proc = '/proc'): Holder | null {
  if (pid === undefined) return null;
  const start = procStartTime(pid, proc);
  return start === null ? null : { pid, start, pidns: ownPidNamespace(proc) };
}

/** false only when the holder is provably gone: seen from the same pid namespace, its pid is free or reused. */
export function holderAlive(h: Holder, proc = '/proc'): boolean {
  if (h.pidns !== ownPidNamespace(proc)) return true;
  return procStartTime(h.pid, proc) === h.start;
}
