// Ownership markers in the state dir: which namespaces lsmns created, for which pod, and which containers
// hold a reference. A marker is also the namespace's intent journal (issue 16): "creating" is written before
// the mkdir, "ready" with the namespace's identity after it, "removing" before the rmdir, and the file goes after
// it. Only a "ready" (or "removing") entry whose identity is the namespace's identity now lets lsmns reuse or
// remove a namespace; a "creating" entry proves nothing. Markers live per backend and boot: namespaces never
// survive a reboot, so older boots' markers are stale (and so an fsync would protect nothing a crash keeps).

import { accessSync, constants, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { atomicTempWriter, makeDirs, writeFileAtomic } from '../fsutil.js';
import { acquireLock, lockLeftByDead } from '../lock.js';
import { ExitCode, LsmnsError, toLsmnsError } from '../errors.js';
import { FORMAT_VERSION, formatVersionOf, type FormatVersion } from '../format.js';
import type { BackendName, KernelPort } from '../kernel/port.js';
import { crashPoint } from './crash.js';
import { holderAlive, procStartTime, type Holder } from '../liveness.js';

export const OWNER_FORMAT_VERSION = FORMAT_VERSION;

/**
 * The longest a front door waits for a pod's lock, by default: inside the thin client's 8 s and hooks.d
 * poststop's 10 s. A standalone createRuntime (timeout 30 s) may wait longer (see runHook).
 */
export const LOCK_WAIT_MS = 4_000;

export interface OwnerRecord {
  formatVersion: FormatVersion;
  namespace: string;
  podKey: string;
  pod: { name: string | null; namespace: string | null; uid: string | null };
  sandboxId: string | null;
  /** The journal's state: "creating" before the mkdir, "ready" after it, "removing" before the rmdir. */
  state: 'creating' | 'ready' | 'removing';
  /** The namespace's identity right after lsmns's mkdir (KernelPort.namespaceIdentity); null while "creating". */
  identity?: string | null;
  /** The container inits that hold a reference, by reference, where the front door knew the pid. */
  holders?: Record<string, Holder>;
  /** Containers (sandbox included) that hold the namespace; it is removed when the last one stops. */
  refs: string[];
  policy: { ref: string; digest: string; profiles: string[] } | null;
  createdAt: string;
  createdByPid: number;
}

export interface OwnershipOptions {
  stateDir: string;
  backend: BackendName;
  bootId: string;
}

/** Namespace names are validated before they get here; this keeps a marker file inside its directory anyway. */
function fileName(ns: string): string {
  if (!/^[A-Za-z][A-Za-z0-9._-]{0,199}$/.test(ns) || ns.includes('..')) {
    throw new LsmnsError({ code: 'Internal', exitCode: ExitCode.Internal, message: `refusing ownership marker for unvalidated namespace name ${JSON.stringify(ns)}`, remedy: 'this is a bug: names must be validated first' });
  }
  return `${ns}.json`;
}

export class OwnershipStore {
  readonly root: string;
  readonly dir: string;
  private readonly stateDir: string;

  constructor(o: OwnershipOptions) {
    this.stateDir = o.stateDir;
    this.root = `${o.stateDir.replace(/\/+$/, '')}/owners`;
    this.dir = `${this.root}/${o.backend}-${o.bootId}`;
  }

  private path(ns: string): string {
    return `${this.dir}/${fileName(ns)}`;
  }

  get(ns: string): OwnerRecord | null {
    let rec: Partial<OwnerRecord> | null;
    try {
      rec = JSON.parse(readFileSync(this.path(ns), 'utf8')) as Partial<OwnerRecord> | null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw this.corrupt(ns, (e as Error).message, e);
    }
    // A marker decides whether lsmns may reuse or remove a namespace: one it cannot read in full decides nothing.
    if (!rec || typeof rec !== 'object') throw this.corrupt(ns, 'not a JSON object');
    if (formatVersionOf(rec.formatVersion) === null) throw this.corrupt(ns, `format version ${JSON.stringify(rec.formatVersion)}, this lsmns reads ${FORMAT_VERSION}`);
    if (!Array.isArray(rec.refs) || !rec.refs.every((r) => typeof r === 'string') || typeof rec.podKey !== 'string') throw this.corrupt(ns, 'refs or podKey missing');
    if (!['creating', 'ready', 'removing'].includes(rec.state as string)) throw this.corrupt(ns, `state ${JSON.stringify(rec.state)}`);
    return { ...rec, formatVersion: FORMAT_VERSION } as OwnerRecord;
  }

  /**
   * A marker that cannot be read in full is moved aside (quarantined) and reported: it decides nothing, so the
   * namespace it named counts as not lsmns's (never reused, never removed) and the next call is not stuck on it.
   */
  private corrupt(ns: string, why: string, cause?: unknown): LsmnsError {
    const aside = `${this.path(ns)}.corrupt-${Date.now()}`;
    let moved = false;
    try {
      renameSync(this.path(ns), aside);
      moved = true;
    } catch { /* gone meanwhile, or not movable: reported as it is */ }
    return new LsmnsError({
      code: 'StateCorrupt', exitCode: ExitCode.ApplyFailed,
      message: `ownership marker ${this.path(ns)} is unreadable: ${why}${moved ? `; moved aside to ${aside}` : ''}`,
      remedy: `inspect ${moved ? aside : 'it'}; lsmns treats ${ns} as a namespace it did not create (remove the namespace by hand if no pod uses it)`,
      ...(cause ? { cause } : {}),
    });
  }

  /** Like list(), but a corrupt marker is quarantined and reported instead of stopping the listing (GC). */
  listTolerant(): { records: OwnerRecord[]; corrupt: string[] } {
    const records: OwnerRecord[] = [];
    const corrupt: string[] = [];
    for (const ns of this.names()) {
      try {
        const r = this.get(ns);
        if (r) records.push(r);
      } catch (e) {
        corrupt.push((e as Error).message);
      }
    }
    return { records, corrupt };
  }

  put(rec: OwnerRecord): void {
    writeFileAtomic(this.path(rec.namespace), `${JSON.stringify(rec, null, 1)}\n`, { dirMode: 0o700 });
  }

  delete(ns: string): void {
    rmSync(this.path(ns), { force: true });
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => n.endsWith('.json')).sort().map((n) => n.slice(0, -5));
    } catch {
      return [];
    }
  }

  list(): OwnerRecord[] {
    return this.names().map((n) => this.get(n)).filter((r): r is OwnerRecord => r !== null);
  }

  /**
   * Files a killed process left in the marker directory: locks whose holder is gone, and temporary files of
   * atomic writes by a process that is gone. Returns their names.
   */
  sweepLeftovers(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const gone = names.filter((n) => {
      if (n.endsWith('.lock')) return lockLeftByDead(`${this.dir}/${n}`);
      // The lock's own temporary and stale names (src/lock.ts), else an atomic write's.
      const lockTmp = /\.lock\.(\d+)-\d+\.tmp$|\.lock\.stale-(\d+)-\d+$/.exec(n);
      const pid = lockTmp ? Number(lockTmp[1] ?? lockTmp[2]) : atomicTempWriter(n);
      return pid !== null && procStartTime(pid) === null;
    });
    for (const n of gone) rmSync(`${this.dir}/${n}`, { recursive: true, force: true });
    return gone;
  }

  /** Marker directories of earlier boots or other backends: their namespaces are gone with that boot. */
  staleBootDirs(): string[] {
    try {
      return readdirSync(this.root).map((d) => `${this.root}/${d}`).filter((d) => d !== this.dir);
    } catch {
      return [];
    }
  }

  /** The marker directory, made if need be: a state dir that is a file, missing or read-only is the caller's input. */
  private ensureDir(): void {
    try {
      makeDirs(this.dir, 0o700);
      accessSync(this.dir, constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new LsmnsError({
        code: 'InvalidInput', exitCode: ExitCode.InvalidInput, cause: e,
        message: `state dir ${this.stateDir} is not a writable directory (${code} at ${(e as { path?: string }).path ?? this.dir})`,
        remedy: 'give --state-dir (LSMNS_STATE_DIR) a directory lsmns may create and write, such as /var/lib/lsmns',
      });
    }
  }

  /** Serialises all work on one namespace (all containers of one pod) across processes. */
  async withLock<T>(ns: string, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
    this.ensureDir();
    let release: () => Promise<void>;
    try {
      release = await acquireLock(this.path(ns), { stale: 10_000, waitMs });
    } catch (e) {
      throw new LsmnsError({ code: 'Locked', exitCode: ExitCode.ApplyFailed, message: `cannot lock namespace ${ns}: ${(e as Error).message}`, remedy: 'another lsmns is working on this pod (a dead holder\'s lock is taken at once); retry', cause: e });
    }
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}

/** The marker's references whose holder is not provably gone (a reference with no recorded holder counts as live). */
export function liveRefs(rec: OwnerRecord, alive: (h: Holder) => boolean = holderAlive): string[] {
  return rec.refs.filter((r) => {
    const h = rec.holders?.[r];
    return !h || alive(h);
  });
}

/** A marker's journal entry proves the namespace is the one lsmns made: completed, and the same namespace now. */
export function provesOwnership(rec: OwnerRecord, identityNow: string | null): boolean {
  return rec.state !== 'creating' && typeof rec.identity === 'string' && rec.identity === identityNow;
}

/**
 * Removes a namespace lsmns created, through the journal: "removing" first, then the rmdir, then the marker.
 * A namespace whose identity is not the marker's (gone, or someone else's of the same name) is never touched;
 * only the marker goes. Called under the namespace's lock. Returns whether a namespace was removed.
 */
export async function removeOwned(owners: OwnershipStore, port: KernelPort, rec: OwnerRecord): Promise<boolean> {
  const id = await port.namespaceIdentity(rec.namespace);
  if (!provesOwnership(rec, id)) {
    owners.delete(rec.namespace);
    return false;
  }
  if (rec.state !== 'removing') owners.put({ ...rec, state: 'removing' });
  crashPoint('marker-removing');
  try {
    await port.removeNamespace(rec.namespace);
  } catch (e) {
    // ENOENT means gone, unless the namespace is plainly still there.
    if (toLsmnsError(e).errno !== 'ENOENT' || (await port.namespaceIdentity(rec.namespace)) === rec.identity) {
      // The rmdir was refused: the namespace is still there and still ours, as it was.
      owners.put(rec);
      throw e;
    }
  }
  crashPoint('rmdir');
  owners.delete(rec.namespace);
  crashPoint('marker-deleted');
  return true;
}
