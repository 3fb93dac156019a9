// GC of policy namespaces (SPEC §2, §3): removes the namespaces lsmns created whose holders are gone. It reads
// only the ownership markers of this boot and backend, so a namespace without an lsmns marker, or one of another
// boot, is never touched. Whether a marker's holders are alive is the caller's decision (`isLive`): the agent
// with --node asks its pod informer, without --node it asks the marker itself.

import { basename } from 'node:path';
import { rmSync } from 'node:fs';
import type { CommonOptions } from '../config.js';
import { invalidInput, toLsmnsError } from '../errors.js';
import { openBackend } from '../kernel/factory.js';
import type { KernelPort } from '../kernel/port.js';
import { OwnershipStore, liveRefs, removeOwned, type OwnerRecord } from './ownership.js';

/** The decision for one marker: alive, or dead with the reason the log gives. */
export type Liveness = { live: true } | { live: false; why: string };

export interface CollectOptions {
  owners: OwnershipStore;
  port: KernelPort;
  /** Whether what holds the namespace is still there. Not asked for a "creating" marker (see below). */
  isLive: (rec: OwnerRecord) => Liveness | Promise<Liveness>;
  now: () => number;
  /** A namespace is removed only after it has been seen dead this long (poststop goes first, races settle). */
  graceMs: number;
  /**
   * When each namespace was first seen dead, kept by a caller that collects again and again (the agent), so
   * the grace runs from the death. Without it (one run) the grace runs from the marker's creation.
   */
  deadSince?: Map<string, number>;
  /** Report what would go, change nothing. */
  dryRun?: boolean;
}

export interface Collected {
  namespace: string;
  podKey: string;
  pod: OwnerRecord['pod'];
  why: string;
}

export interface CollectReport {
  removed: Collected[];
  /** Dead, but still inside the grace period. */
  waiting: Collected[];
  /** Dead, but the removal failed (tried again on the next run); one failure does not stop the others. */
  failed: (Collected & { error: string })[];
  /** Marker directories of earlier boots of this backend that were dropped (their namespaces died with the boot). */
  staleBootDirs: string[];
  /**
   * Namespaces a crash left with only a "creating" entry: lsmns may have made them, but nothing proves it, so
   * they stay (a person decides). Only the entry went.
   */
  unproven: Collected[];
  /** Markers that could not be read: moved aside, with the message that says where (their namespaces stay). */
  corrupt?: string[];
  /** Lock and temporary files that killed processes left in the marker directory, swept. */
  leftovers?: string[];
  /** The runtime port's records of containers that never started or whose init is gone (a killed shim's). */
  runtimeRecords?: string[];
}

/**
 * Liveness from what the marker holds: a namespace with no container reference left has no holder, and a
 * reference whose container init is gone (its pid free, or another process's) holds nothing.
 */
export function livenessFromMarker(rec: OwnerRecord): Liveness {
  if (rec.refs.length === 0) return { live: false, why: 'no container holds a reference any more' };
  if (liveRefs(rec).length === 0) return { live: false, why: `every container that held it has exited (${rec.refs.map((r) => `${r}: pid ${rec.holders?.[r]?.pid}`).join(', ')})` };
  return { live: true };
}

/**
 * A marker still "creating" while its namespace lock is free was left by a crash between the marker and the
 * mkdir (the executor turns it into "ready", or removes it, before it lets go of the lock), so it is dead
 * whatever isLive says. It proves nothing about the namespace, though: the mkdir may never have happened, and
 * a namespace of that name may be someone else's, made after the crash. So only the marker goes.
 */
async function deadness(rec: OwnerRecord, isLive: CollectOptions['isLive']): Promise<string | null> {
  if (rec.state === 'creating') return 'its creation never finished (a crash between the marker and the mkdir)';
  const l = await isLive(rec);
  return l.live ? null : l.why;
}

const sameMarker = (a: OwnerRecord, b: OwnerRecord) => a.podKey === b.podKey && a.createdAt === b.createdAt && a.state === b.state;

export async function collectOrphans(o: CollectOptions): Promise<CollectReport> {
  const report: CollectReport = { removed: [], waiting: [], failed: [], staleBootDirs: [], unproven: [] };
  // Earlier boots of this backend: their namespaces are gone with that boot, so only the files go. Markers of
  // another backend (the sim beside securityfs) belong to that backend's state and stay.
  const mine = `${o.port.describe().backend}-`;
  for (const d of o.owners.staleBootDirs().filter((x) => basename(x).startsWith(mine))) {
    if (!o.dryRun) rmSync(d, { recursive: true, force: true });
    report.staleBootDirs.push(d);
  }
  const now = o.now();
  const seen = new Set<string>();
  const { records, corrupt } = o.owners.listTolerant();
  report.corrupt = corrupt;
  for (const rec of records) {
    seen.add(rec.namespace);
    const why = await deadness(rec, o.isLive);
    if (why === null) {
      o.deadSince?.delete(rec.namespace);
      continue;
    }
    const item: Collected = { namespace: rec.namespace, podKey: rec.podKey, pod: rec.pod, why };
    const since = o.deadSince ? (o.deadSince.get(rec.namespace) ?? now) : Date.parse(rec.createdAt);
    o.deadSince?.set(rec.namespace, since);
    if (now - since < o.graceMs) {
      report.waiting.push(item);
      continue;
    }
    if (o.dryRun) {
      (rec.state === 'creating' && (await o.port.namespaceExists(rec.namespace)) ? report.unproven : report.removed).push(item);
      continue;
    }
    let unproven = false;
    let removed: boolean;
    try {
      removed = await o.owners.withLock(rec.namespace, async () => {
        const cur = o.owners.get(rec.namespace);
        // Reused or revived meanwhile (a new pod took the name, a container took a reference): not dead any more.
        if (!cur || !sameMarker(cur, rec) || (await deadness(cur, o.isLive)) === null) return false;
        if (cur.state === 'creating') {
          unproven = await o.port.namespaceExists(rec.namespace);
          o.owners.delete(rec.namespace);
          return !unproven;
        }
        // Through the journal: only the namespace the marker's identity names is removed.
        return removeOwned(o.owners, o.port, cur);
      });
    } catch (e) {
      report.failed.push({ ...item, error: toLsmnsError(e).message });
      continue;
    }
    o.deadSince?.delete(rec.namespace);
    if (removed) report.removed.push(item);
    if (unproven) report.unproven.push({ ...item, why: `${item.why}; ${item.namespace} exists, but nothing proves lsmns made it, so it stays (remove it by hand if no one uses it)` });
  }
  if (o.deadSince) for (const ns of [...o.deadSince.keys()]) if (!seen.has(ns)) o.deadSince.delete(ns);
  if (!o.dryRun) report.leftovers = o.owners.sweepLeftovers();
  return report;
}

export interface GcRunOptions extends Omit<CollectOptions, 'owners' | 'port'> {
  common: CommonOptions;
}

/** One GC run on the node the options name: what `lsmns gc` and the agent's loop both call. */
export async function collectOnNode(o: GcRunOptions): Promise<CollectReport & { backend: string; dryRun: boolean }> {
  const { common, ...rest } = o;
  const { kernel: port, runtime } = await openBackend(common);
  const owners = new OwnershipStore({ stateDir: common.stateDir, backend: port.describe().backend, bootId: await port.bootId() });
  const r = await collectOrphans({ ...rest, owners, port });
  r.runtimeRecords = await runtime.sweep({ now: rest.now(), graceMs: rest.graceMs, dryRun: rest.dryRun ?? false });
  return { ...r, backend: port.describe().backend, dryRun: o.dryRun ?? false };
}

/** --grace: "90", "90s", "5m", "1h" or "0"; seconds when there is no unit. */
export function parseDuration(v: string, flag = '--grace'): number {
  const m = /^(\d{1,7})(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw invalidInput('InvalidInput', `${flag} ${JSON.stringify(v.slice(0, 40))} is not a duration`, `give a number with an optional unit: ${flag} 60s, 5m, 1h, 0`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}
