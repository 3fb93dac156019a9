// What a real runtime does with process.apparmorProfile, played on the sim backend. A hook cannot move the
// container (EPERM), the runtime's init moves itself: on a real node the shim writes the label into config.json
// and runc/crun apply it. On the sim the real config.json is left alone (the host may have no AppArmor), so the
// shim leaves an intent in the state dir, keyed by the bundle, and the createRuntime hook, once the namespace
// and policy exist, starts a sim task for the container that applies the label itself; poststop ends it.

import { sha256Hex } from '../hash.js';
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import type { KernelPort } from '../kernel/port.js';

export interface SimRuntimeIntent {
  bundle: string;
  label: string;
  /** The display LSM the shim would set on itself (inherited by the runtime and its init). */
  display: string | null;
  container: string;
  /** Set by the createRuntime hook: the sim task that runs the container. */
  pid?: number;
  containerId?: string;
}

function intentPath(stateDir: string, bundle: string): string {
  const key = sha256Hex(bundle.replace(/\/+$/, '')).slice(0, 32);
  return `${stateDir.replace(/\/+$/, '')}/sim-runtime/${key}.json`;
}

function read(stateDir: string, bundle: string): SimRuntimeIntent | null {
  try {
    return JSON.parse(readFileSync(intentPath(stateDir, bundle), 'utf8')) as SimRuntimeIntent;
  } catch {
    return null;
  }
}

/** The shim's side: record the label it would have written (a re-create of the bundle replaces it). */
export function recordIntent(stateDir: string, i: SimRuntimeIntent): void {
  writeFileAtomic(intentPath(stateDir, i.bundle), JSON.stringify(i), { dirMode: 0o700 });
}

/** The shim's side for a bundle it leaves alone: drop an old intent so a later hook does not act on it. */
export function clearIntent(stateDir: string, bundle: string): void {
  rmSync(intentPath(stateDir, bundle), { force: true });
}

/** The shim's side after its runtime failed a create or run: an intent that no hook started a task for goes. */
export function dropUnstartedIntent(stateDir: string, bundle: string): void {
  const i = read(stateDir, bundle);
  if (i && i.pid === undefined) rmSync(intentPath(stateDir, bundle), { force: true });
}

/** createRuntime, after the namespace and policy are in place: the runtime init applies the label. */
export async function startSimContainer(port: KernelPort, stateDir: string, bundle: string, containerId: string): Promise<SimRuntimeIntent | null> {
  if (port.backend !== 'sim') return null;
  const i = read(stateDir, bundle);
  if (!i || i.pid !== undefined) return i;
  const t = await port.spawnTask({ comm: i.container, execLabel: i.label, display: i.display ?? undefined, container: containerId });
  const done = { ...i, pid: t.pid, containerId };
  recordIntent(stateDir, done);
  return done;
}

/** poststop: the container's task is gone; the intent goes with it. */
export async function stopSimContainer(port: KernelPort, stateDir: string, bundle: string, containerId: string): Promise<void> {
  if (port.backend !== 'sim') return;
  const i = read(stateDir, bundle);
  if (!i || (i.containerId !== undefined && i.containerId !== containerId)) return;
  if (i.pid !== undefined) await port.endTask(i.pid).catch(() => {});
  rmSync(intentPath(stateDir, bundle), { force: true });
}
