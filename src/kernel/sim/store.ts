// One JSON file holds the simulated kernel, so that separate processes (CLI, hooks, agent) share it.
// Every change runs under a file lock (proper-lockfile) and is written atomically (temp file + rename);
// a failed operation writes nothing, so the file stays byte-for-byte what it was.

import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../fsutil.js';
import { dirname } from 'node:path';
import { acquireLock } from '../../lock.js';
import { invalidInput, LsmnsError, ExitCode } from '../../errors.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM } from '../facts.js';
import { formatVersionOf } from '../../format.js';
import { bootSim, SIM_FORMAT_VERSION, type BootParams, type SimState } from './model.js';

export const DEFAULT_BOOT: BootParams = { lsm: DEFAULT_SIM_LSM, kernel: DEFAULT_SIM_KERNEL, display: null };

export interface SimStoreOptions {
  path: string;
  /** Boot parameters given on the command line; a new state is booted from them, an existing one must match. */
  boot?: Partial<BootParams> | null;
}

function sameBoot(a: BootParams, b: Partial<BootParams>): boolean {
  return (b.lsm === undefined || a.lsm === b.lsm) && (b.kernel === undefined || a.kernel === b.kernel) && (b.display === undefined || (a.display ?? null) === (b.display ?? null));
}

export class SimStore {
  readonly path: string;
  private readonly boot: Partial<BootParams> | null;

  constructor(o: SimStoreOptions) {
    this.path = o.path;
    this.boot = o.boot ?? null;
  }

  private bootParams(): BootParams {
    return { ...DEFAULT_BOOT, ...(this.boot ?? {}) } as BootParams;
  }

  private parse(text: string): SimState {
    let s: SimState;
    try {
      s = JSON.parse(text) as SimState;
    } catch (e) {
      throw new LsmnsError({ code: 'StateCorrupt', exitCode: ExitCode.InvalidInput, message: `simulated kernel state ${this.path} is not valid JSON (${(e as Error).message})`, remedy: `reset it: lsmns sim reset --sim-state ${this.path}`, cause: e });
    }
    if (formatVersionOf(s.formatVersion) === null) {
      throw new LsmnsError({ code: 'StateCorrupt', exitCode: ExitCode.InvalidInput, message: `simulated kernel state ${this.path} has format version ${String(s.formatVersion)}, this lsmns reads ${SIM_FORMAT_VERSION}`, remedy: `reset it: lsmns sim reset --sim-state ${this.path}` });
    }
    if (this.boot && !sameBoot(s.boot, this.boot)) {
      throw invalidInput('SimBootMismatch', `the simulated kernel at ${this.path} was booted with lsm=${s.boot.lsm} kernel=${s.boot.kernel}${s.boot.display ? ` display=${s.boot.display}` : ''}, not with the given --lsm/--kernel`, `reboot it with those flags: lsmns sim reset --sim-state ${this.path} --lsm ... --kernel ...`);
    }
    return s;
  }

  /** The current state; a missing file reads as a fresh boot (not written until something changes). */
  read(): SimState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return bootSim(this.bootParams());
      throw new LsmnsError({ code: 'StateUnreadable', exitCode: ExitCode.InvalidInput, message: `cannot read simulated kernel state ${this.path}: ${(e as NodeJS.ErrnoException).code}`, remedy: 'check --sim-state (LSMNS_SIM_STATE) and its permissions', cause: e });
    }
    return this.parse(text);
  }

  private write(s: SimState): void {
    writeFileAtomic(this.path, `${JSON.stringify(s, null, 1)}\n`);
  }

  private async withLock<T>(fn: () => T): Promise<T> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    let release: () => Promise<void>;
    try {
      release = await acquireLock(this.path, { stale: 10_000, waitMs: 5_000 });
    } catch (e) {
      throw new LsmnsError({ code: 'Locked', exitCode: ExitCode.ApplyFailed, message: `cannot lock simulated kernel state ${this.path}: ${(e as Error).message}`, remedy: `another lsmns holds ${this.path}.lock; if no lsmns runs, remove that directory`, cause: e });
    }
    try {
      return fn();
    } finally {
      await release();
    }
  }

  /**
   * Runs fn on the state under the lock and writes the result when it changed. When fn throws, nothing is
   * written, except that injected faults which fired are used up.
   */
  async mutate<T>(fn: (s: SimState) => T): Promise<T> {
    return this.withLock(() => {
      let before: string | null = null;
      try {
        before = readFileSync(this.path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const s = before === null ? bootSim(this.bootParams()) : this.parse(before);
      const snapshot = JSON.stringify(s);
      const faults = JSON.stringify(s.faults);
      let result: T;
      try {
        result = fn(s);
      } catch (e) {
        if (JSON.stringify(s.faults) !== faults) {
          const orig = before === null ? bootSim(this.bootParams(), s.bootId) : this.parse(before);
          orig.faults = s.faults;
          this.write(orig);
        }
        throw e;
      }
      if (before === null || JSON.stringify(s) !== snapshot) {
        s.revision++;
        this.write(s);
      }
      return result;
    });
  }

  /** Replaces the state with a fresh boot. */
  async reset(boot: Partial<BootParams> | null): Promise<SimState> {
    return this.withLock(() => {
      const s = bootSim({ ...DEFAULT_BOOT, ...(boot ?? {}) } as BootParams);
      this.write(s);
      return s;
    });
  }
}
