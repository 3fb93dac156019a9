// The runtime port on a real node: the shim writes the label into config.json's process.apparmorProfile, and
// runc or crun apply it from inside the container's init (KERNEL-FACTS Part A); the display LSM, where a
// kernel needs it, is set on the shim's own process before it runs the runtime, which the init inherits.

import { PlayedTasks, type ConfigDoc, type LabelIntent, type RuntimeDescription, type RuntimePort } from '../runtime.js';
import type { KernelPort, SpawnedTask } from '../port.js';
import { invalidInput } from '../../errors.js';
import { pidFromCgroups } from '../cgroups.js';

export class OciRuntime implements RuntimePort {
  readonly shimSetsDisplay = true;
  private readonly played: PlayedTasks;

  constructor(kernel: KernelPort, stateDir: string) {
    this.played = new PlayedTasks(kernel, `${stateDir.replace(/\/+$/, '')}/played`);
  }

  describe(): RuntimeDescription {
    return { labelTo: 'config', note: 'the runtime applies process.apparmorProfile from config.json inside its init' };
  }

  prepare(b: { dir: string; doc: ConfigDoc }, intent: LabelIntent | null): boolean {
    if (!intent) return false;
    if (b.doc.process === undefined) throw invalidInput('InvalidBundle', `${b.dir}/config.json: has no process section to carry the AppArmor label`, 'give a runtime spec with a process (runc spec makes one)');
    if (b.doc.process.apparmorProfile === intent.label) return false;
    b.doc.process.apparmorProfile = intent.label;
    return true;
  }

  abandoned(): void {}

  /** The label lives in config.json, which goes with the bundle: nothing of the shim's is left to sweep. */
  async sweep(): Promise<string[]> {
    return [];
  }

  async starting(): Promise<SpawnedTask | null> {
    return null;
  }

  async stopped(): Promise<void> {}

  initPid(containerId: string): Promise<number | null> {
    return pidFromCgroups(containerId);
  }

  play(key: string, intent: LabelIntent): Promise<{ task: SpawnedTask; fresh: boolean }> {
    return this.played.play(key, intent);
  }

  unplay(key: string): Promise<void> {
    return this.played.unplay(key);
  }
}
