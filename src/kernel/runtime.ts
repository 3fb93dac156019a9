// The runtime port, beside the kernel port: how a container's root task gets its label. A hook cannot move
// another task (EPERM), so the runtime's init applies the label to itself; this port says how that happens on
// the backend at hand. The factory picks the implementation with the kernel port, and nothing above it knows
// which: on a real node the shim writes config.json and runc or crun apply it; on the sim the port plays the
// runtime's init in the simulated kernel. `lsmns apply`, which has no runtime at all, plays it on either.

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { sha256Hex } from '../hash.js';
import type { KernelPort, SpawnedTask } from './port.js';

/** What the container's init must apply: the label, and the display LSM it sets on itself first (or null). */
export interface LabelIntent {
  label: string;
  display: 'apparmor' | null;
  /** The container's name in the plan. */
  container: string;
}

/** config.json as read, kept whole so that every field the runtime reads survives a rewrite. */
export type ConfigDoc = Record<string, unknown> & { process?: Record<string, unknown> };

export interface RuntimeDescription {
  /** Where the shim puts the label: config.json's process.apparmorProfile, or the sim's played init. */
  labelTo: 'config' | 'sim';
  note: string;
}

export interface RuntimePort {
  describe(): RuntimeDescription;
  /**
   * The shim, before the runtime's create: arrange that the container's init applies the intent (null: this
   * bundle gets no label). Returns true when `doc` was changed and must be written back.
   */
  prepare(bundle: { dir: string; containerId: string | null; doc: ConfigDoc }, intent: LabelIntent | null): boolean;
  /** True when the shim's own process must set the display LSM before it runs the runtime (the init inherits it). */
  readonly shimSetsDisplay: boolean;
  /** The shim, after the runtime failed a create: what prepare recorded for a container that never started goes. */
  abandoned(bundle: { dir: string; containerId: string | null }): void;
  /**
   * createRuntime, once the namespace and its policy exist: the container's init applies its label. initPid is
   * the real init's pid from the OCI state, when the runtime gave one (what GC judges the container's life by).
   */
  starting(bundle: { dir: string; containerId: string; initPid?: number }): Promise<SpawnedTask | null>;
  /** poststop: the container's init is gone. */
  stopped(bundle: { dir: string; containerId: string }): Promise<void>;
  /** The pid of a running container's init, for reading the label it runs under (the Confined check), or null. */
  initPid(containerId: string): Promise<number | null>;
  /** `lsmns apply`, with no runtime: start a task that applies the intent to itself, once per key. */
  play(key: string, intent: LabelIntent): Promise<{ task: SpawnedTask; fresh: boolean }>;
  /** Ends the task that play started for the key, if any. */
  unplay(key: string): Promise<void>;
  /**
   * GC: what prepare recorded for containers that will never start (a shim killed before its runtime ran, or
   * before it dropped a refused create's record), once older than graceMs, and the records (and played inits) of
   * containers whose real init is gone without a poststop (a runtime killed mid-create).
   * Returns one line per record removed (or that would be, with dryRun).
   */
  sweep(o: { now: number; graceMs: number; dryRun: boolean }): Promise<string[]>;
}

/** Small JSON records in the state dir, one file per key (hashed: keys carry ids and paths). */
export class RecordBook<T extends object> {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return `${this.dir}/${sha256Hex(key).slice(0, 32)}.json`;
  }

  get(key: string): T | null {
    try {
      const r = JSON.parse(readFileSync(this.file(key), 'utf8')) as unknown;
      return r && typeof r === 'object' ? r as T : null;
    } catch {
      return null;
    }
  }

  put(key: string, r: T): void {
    writeFileAtomic(this.file(key), JSON.stringify(r), { dirMode: 0o700 });
  }

  delete(key: string): void {
    rmSync(this.file(key), { force: true });
  }

  /** Every record with its file and the file's mtime (ms); unreadable ones are skipped. */
  entries(): { file: string; record: T; mtimeMs: number }[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /^[0-9a-f]{32}\.json$/.test(n));
    } catch {
      return [];
    }
    return names.flatMap((n) => {
      const file = `${this.dir}/${n}`;
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        return record && typeof record === 'object' ? [{ file, record: record as T, mtimeMs: statSync(file).mtimeMs }] : [];
      } catch {
        return [];
      }
    });
  }
}

interface Played { key: string; pid: number; container: string }

/** The tasks `lsmns apply` starts in place of a runtime, through the kernel port (both backends can start one). */
export class PlayedTasks {
  private readonly book: RecordBook<Played>;

  constructor(private readonly kernel: KernelPort, dir: string) {
    this.book = new RecordBook(dir);
  }

  async play(key: string, i: LabelIntent): Promise<{ task: SpawnedTask; fresh: boolean }> {
    const running = this.book.get(key);
    if (running) {
      const label = await this.kernel.readTaskLabel(running.pid).catch(() => null);
      if (label !== null) return { task: { pid: running.pid, label }, fresh: false };
    }
    const task = await this.kernel.spawnTask({ comm: i.container, execLabel: i.label, ...(i.display ? { display: i.display } : {}), container: key });
    this.book.put(key, { key, pid: task.pid, container: i.container });
    return { task, fresh: true };
  }

  async unplay(key: string): Promise<void> {
    const r = this.book.get(key);
    if (!r) return;
    await this.kernel.endTask(r.pid).catch(() => {});
    this.book.delete(key);
  }
}
