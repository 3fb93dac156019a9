// Ownership markers in the state dir: which namespaces lsmns created, for which pod, and which containers
// hold a reference. A marker is written before the mkdir (intent), so a crash leaves a record for GC.
// Markers live per backend and boot: namespaces never survive a reboot, so older boots' markers are stale.

import { accessSync, constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { makeDirs, writeFileAtomic } from '../fsutil.js';
import { acquireLock } from '../lock.js';
import { ExitCode, LsmnsError } from '../errors.js';
import { FORMAT_VERSION, formatVersionOf, type FormatVersion } from '../format.js';
import type { BackendName } from '../kernel/port.js';

export const OWNER_FORMAT_VERSION = FORMAT_VERSION;

export interface OwnerRecord {
  formatVersion: FormatVersion;
  namespace: string;
  podKey: string;
  pod: { name: string | null; namespace: string | null; uid: string | null };
  sandboxId: string | null;
  /** "creating" until the mkdir succeeded: a crash in between leaves a record GC can finish. */
  state: 'creating' | 'ready';
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
    if (!Array.isArray(rec.refs) || typeof rec.podKey !== 'string') throw this.corrupt(ns, 'refs or podKey missing');
    return { ...rec, formatVersion: FORMAT_VERSION } as OwnerRecord;
  }

  private corrupt(ns: string, why: string, cause?: unknown): LsmnsError {
    return new LsmnsError({ code: 'StateCorrupt', exitCode: ExitCode.ApplyFailed, message: `ownership marker ${this.path(ns)} is unreadable: ${why}`, remedy: 'inspect it; remove it only if no pod uses that namespace', ...(cause ? { cause } : {}) });
  }

  put(rec: OwnerRecord): void {
    writeFileAtomic(this.path(rec.namespace), `${JSON.stringify(rec, null, 1)}\n`, { dirMode: 0o700 });
  }

  delete(ns: string): void {
    rmSync(this.path(ns), { force: true });
  }

  list(): OwnerRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => n.endsWith('.json')).sort().map((n) => this.get(n.slice(0, -5))).filter((r): r is OwnerRecord => r !== null);
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
  async withLock<T>(ns: string, fn: () => Promise<T>): Promise<T> {
    this.ensureDir();
    let release: () => Promise<void>;
    try {
      release = await acquireLock(this.path(ns), { stale: 30_000, retries: { retries: 600, factor: 1.2, minTimeout: 2, maxTimeout: 50 } });
    } catch (e) {
      throw new LsmnsError({ code: 'Locked', exitCode: ExitCode.ApplyFailed, message: `cannot lock ${this.path(ns)}: ${(e as Error).message}`, remedy: 'another lsmns is working on this pod; retry, or remove the .lock directory if no lsmns runs', cause: e });
    }
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}
