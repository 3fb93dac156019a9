// One JSON file holds the simulated kernel, so that separate processes (CLI, hooks, agent) share it.
// Every change runs under a file lock (src/lock.ts) and is written atomically (temp file + rename);
// a failed operation writes nothing, so the file stays byte-for-byte what it was.

import { BoundedReadError, makeDirs, MAX_INPUT_BYTES, readFileBounded, writeFileAtomic } from '../../fsutil.js';
import { escapeValue } from '../../schema/names.js';
import { dirname } from 'node:path';
import { acquireLock } from '../../lock.js';
import { invalidInput, LsmnsError, ExitCode } from '../../errors.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM } from '../facts.js';
import { formatVersionOf } from '../../format.js';
import { bootSim, SIM_FORMAT_VERSION, type BootParams, type SimState } from './model.js';

/** A busy sim holds a few hundred KiB; anything near this bound is not a state lsmns wrote. */
const MAX_SIM_STATE_BYTES = MAX_INPUT_BYTES;

export const DEFAULT_BOOT: BootParams = { lsm: DEFAULT_SIM_LSM, kernel: DEFAULT_SIM_KERNEL, display: null };

export interface SimStoreOptions {
  path: string;
  /** Boot parameters given on the command line; a new state is booted from them, an existing one must match. */
  boot?: Partial<BootParams> | null;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown) => typeof x === 'string';
const isNum = (x: unknown) => typeof x === 'number';

/** The top-level fields every operation reads, with their types: a state missing one is corrupt, not a crash. */
const STATE_FIELDS: [keyof SimState, (x: unknown) => boolean][] = [
  ['bootId', isStr], ['boot', (x) => isObj(x) && isStr(x.lsm) && isStr(x.kernel)], ['lsms', (x) => Array.isArray(x) && x.every(isStr)],
  ['apparmor', isObj], ['nextNsId', isStr], ['nextSeq', isNum], ['root', (x) => isObj(x) && isObj(x.children) && isObj(x.profiles)],
  ['tasks', isObj], ['nextPid', isNum], ['denials', Array.isArray], ['faults', Array.isArray], ['revision', isNum],
];

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
    const corrupt = (why: string) => new LsmnsError({ code: 'StateCorrupt', exitCode: ExitCode.InvalidInput, message: `simulated kernel state ${this.path} ${why}`, remedy: `reset it: lsmns sim reset --sim-state ${this.path}` });
    if (!isObj(s)) throw corrupt(`is ${s === null ? 'null' : Array.isArray(s) ? 'an array' : `a ${typeof s}`}, not a JSON object`);
    if (formatVersionOf(s.formatVersion) === null) throw corrupt(`has format version ${escapeValue(String(s.formatVersion), 40)}, this lsmns reads ${SIM_FORMAT_VERSION}`);
    const broken = STATE_FIELDS.filter(([k, ok]) => !ok(s[k])).map(([k]) => k);
    if (broken.length > 0) throw corrupt(`lacks or mistypes ${broken.join(', ')}`);
    if (this.boot && !sameBoot(s.boot, this.boot)) {
      throw invalidInput('SimBootMismatch', `the simulated kernel at ${this.path} was booted with lsm=${s.boot.lsm} kernel=${s.boot.kernel}${s.boot.display ? ` display=${s.boot.display}` : ''}, not with the given --lsm/--kernel`, `reboot it with those flags: lsmns sim reset --sim-state ${this.path} --lsm ... --kernel ...`);
    }
    return s;
  }

  /** The current state; a missing file reads as a fresh boot (not written until something changes). */
  read(): SimState {
    const text = this.readText();
    return text === null ? bootSim(this.bootParams()) : this.parse(text);
  }

  /** The file's text, or null when there is none yet; bounded, and only a regular file (--sim-state is input). */
  private readText(): string | null {
    try {
      return readFileBounded(this.path, { maxBytes: MAX_SIM_STATE_BYTES, regularOnly: true }).toString('utf8');
    } catch (e) {
      if (!(e instanceof BoundedReadError)) throw e;
      if (e.reason === 'ENOENT') return null;
      throw new LsmnsError({ code: 'StateUnreadable', exitCode: ExitCode.InvalidInput, message: `cannot read simulated kernel state: ${e.message}`, remedy: 'check --sim-state (LSMNS_SIM_STATE) and its permissions', cause: e });
    }
  }

  private write(s: SimState): void {
    writeFileAtomic(this.path, `${JSON.stringify(s, null, 1)}\n`);
  }

  private async withLock<T>(fn: () => T): Promise<T> {
    try {
      makeDirs(dirname(this.path), 0o700);
    } catch (e) {
      throw new LsmnsError({ code: 'StateUnreadable', exitCode: ExitCode.InvalidInput, message: `cannot make the directory of simulated kernel state ${this.path}: ${(e as NodeJS.ErrnoException).code}`, remedy: 'check --sim-state (LSMNS_SIM_STATE)', cause: e });
    }
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
      const before = this.readText();
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
