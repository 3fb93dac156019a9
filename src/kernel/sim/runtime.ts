// The runtime port on the sim: what runc or crun do with process.apparmorProfile, played in the simulated
// kernel. The real config.json is left alone (the host may have no AppArmor, and the runtime would apply the
// label to a real task); the shim records an intent per container instead, the createRuntime hook starts a sim
// task that applies the label to itself once the namespace and its policy exist, and poststop ends it. The
// intents and the tasks `lsmns apply` plays live here, and nowhere else.

import { rmSync } from 'node:fs';
import { PlayedTasks, RecordBook, type ConfigDoc, type LabelIntent, type RuntimeDescription, type RuntimePort } from '../runtime.js';
import type { KernelPort, SpawnedTask } from '../port.js';
import { holderAlive, holderOf, type Holder } from '../../liveness.js';

interface Intent extends LabelIntent {
  bundle: string;
  containerId: string | null;
  /** Set by createRuntime: the sim task that runs the container. */
  pid?: number;
  /** When the shim recorded it (ms): GC drops a record no createRuntime took up after the grace. */
  preparedAt?: number;
  /** The real container init (from the OCI state at createRuntime): once it is gone, so is the container. */
  holder?: Holder;
}

const keyOf = (b: { dir: string; containerId: string | null }) => `${b.dir.replace(/\/+$/, '')}\0${b.containerId ?? ''}`;

export class SimRuntime implements RuntimePort {
  readonly shimSetsDisplay = false;
  private readonly intents: RecordBook<Intent>;
  private readonly played: PlayedTasks;

  /** findTask: the sim's task of a container id (SimKernel.containerTask); a test may give a port without one. */
  constructor(private readonly kernel: KernelPort, stateDir: string, private readonly findTask: (containerId: string) => Promise<number | null> = async () => null) {
    const dir = stateDir.replace(/\/+$/, '');
    this.intents = new RecordBook(`${dir}/sim-runtime`);
    this.played = new PlayedTasks(kernel, `${dir}/sim-runtime/played`);
  }

  describe(): RuntimeDescription {
    return { labelTo: 'sim', note: 'the simulated runtime init applies the label in the sim; config.json is left alone' };
  }

  prepare(b: { dir: string; containerId: string | null; doc: ConfigDoc }, intent: LabelIntent | null): boolean {
    const key = keyOf(b);
    const have = this.intents.get(key);
    // A running container's record is never replaced: a duplicate create is refused by the runtime.
    if (have?.pid !== undefined) return false;
    if (intent) this.intents.put(key, { ...intent, bundle: b.dir, containerId: b.containerId, preparedAt: Date.now() });
    else this.intents.delete(key);
    return false;
  }

  abandoned(b: { dir: string; containerId: string | null }): void {
    const i = this.intents.get(keyOf(b));
    if (i && i.pid === undefined) this.intents.delete(keyOf(b));
  }

  async starting(b: { dir: string; containerId: string; initPid?: number }): Promise<SpawnedTask | null> {
    const key = keyOf(b);
    const i = this.intents.get(key);
    if (!i) return null;
    if (i.pid !== undefined) return { pid: i.pid, label: await this.kernel.readTaskLabel(i.pid) };
    const t = await this.kernel.spawnTask({ comm: i.container, execLabel: i.label, ...(i.display ? { display: i.display } : {}), container: b.containerId });
    const holder = holderOf(b.initPid);
    this.intents.put(key, { ...i, pid: t.pid, ...(holder ? { holder } : {}) });
    return t;
  }

  async stopped(b: { dir: string; containerId: string }): Promise<void> {
    const key = keyOf(b);
    const i = this.intents.get(key);
    if (!i) return;
    if (i.pid !== undefined) await this.kernel.endTask(i.pid).catch(() => {});
    this.intents.delete(key);
  }

  async sweep(o: { now: number; graceMs: number; dryRun: boolean }): Promise<string[]> {
    const gone: string[] = [];
    for (const { file, record: i, mtimeMs } of this.intents.entries()) {
      const who = `sim runtime record of container ${i.containerId ?? '(no id)'} (bundle ${i.bundle})`;
      let why: string | null = null;
      if (i.pid === undefined) {
        // A create takes at most its hooks' timeouts: a record no createRuntime took up after the grace never will.
        if (o.now - (i.preparedAt ?? mtimeMs) >= o.graceMs) why = 'its container never started (the shim or its runtime was killed, or the create was refused)';
      } else if ((await this.kernel.readTaskLabel(i.pid).then(() => true, () => false)) === false) {
        why = `its init (sim task ${i.pid}) is gone`;
      } else if (i.holder && !holderAlive(i.holder)) {
        // The real container died without a poststop (its runtime was killed mid-create): end its played init.
        if (!o.dryRun) await this.kernel.endTask(i.pid).catch(() => {});
        why = `its container's init (pid ${i.holder.pid}) is gone and no poststop ran; sim task ${i.pid} ended`;
      }
      if (why === null) continue;
      if (!o.dryRun) rmSync(file, { force: true });
      gone.push(`${who}: ${why}`);
    }
    return gone;
  }

  /** The sim task that plays the container's init (the real process, if any, runs unconfined). */
  initPid(containerId: string): Promise<number | null> {
    return this.findTask(containerId.replace(/^[a-z0-9-]+:\/\//, ''));
  }

  play(key: string, intent: LabelIntent): Promise<{ task: SpawnedTask; fresh: boolean }> {
    return this.played.play(key, intent);
  }

  unplay(key: string): Promise<void> {
    return this.played.unplay(key);
  }
}
