// The lsmns.io/Confined condition (SPEC §3): True only after the agent has read the label of each running app
// container's init from /proc and seen the planned one; False, with the label seen, when it is another.

import type { KubeApi } from '../../kube/client.js';
import type { EventReason } from '../../kube/events.js';
import { labelMatches, stripMode } from '../../kernel/label.js';
import type { KernelPort } from '../../kernel/port.js';
import type { Plan } from '../../plan/types.js';
import type { NodePod } from './pods.js';

export const CONFINED_CONDITION = 'lsmns.io/Confined';

export interface ConfinedCheckOptions {
  api: KubeApi;
  port: KernelPort;
  /** The init pid of a container, from its CRI id ("containerd://<id>"): the runtime port's lookup. */
  resolvePid: (containerId: string) => Promise<number | null>;
  now: () => number;
  /** Records an Event once per key and pod. */
  event: (p: NodePod, reason: EventReason, message: string, onceKey: string) => Promise<void>;
  /** A container whose label could not be read (it exited meanwhile, or /proc refused): the pod is skipped. */
  readFailed?: (p: NodePod, container: string, pid: number, err: Error) => void;
}

export class ConfinedCheck {
  /** The container ids last judged per pod uid: a pod is judged again only when they change. */
  private readonly confirmed = new Map<string, string>();

  constructor(private readonly o: ConfinedCheckOptions) {}

  forget(uid: string): void {
    this.confirmed.delete(uid);
  }

  async check(p: NodePod, pl: Plan): Promise<void> {
    const apps = pl.containers.filter((c) => c.role === 'app' && c.label);
    const states = new Map(p.containers.map((c) => [c.name, c]));
    const running = apps.map((c) => ({ c, s: states.get(c.name) })).filter((x) => x.s?.running && x.s.id);
    // Init containers have exited by the time app containers run; judge what runs now.
    const runningApps = running.filter(({ c }) => ((p.pod.spec as { containers: { name: string }[] }).containers).some((x) => x.name === c.name));
    if (runningApps.length === 0) return;
    const ids = runningApps.map((x) => x.s!.id).join(',');
    if (this.confirmed.get(p.uid) === ids) return;
    const resolve = this.o.resolvePid;
    const seen: string[] = [];
    for (const { c, s } of runningApps) {
      const pid = await resolve(s!.id!);
      if (pid === null) return; // not visible yet: try again on the next pass
      let raw: string;
      try {
        raw = await this.o.port.readTaskLabel(pid);
      } catch (e) {
        // One unreadable container must not stop the pass for every other pod: report it, judge it next pass.
        this.o.readFailed?.(p, c.name, pid, e as Error);
        return;
      }
      const label = stripMode(raw);
      if (!labelMatches(c.label!, label)) {
        await this.setCondition(p, 'False', 'LabelMismatch', `container ${c.name} (pid ${pid}) runs as ${label}, not the planned ${c.label}`);
        this.confirmed.set(p.uid, ids);
        return;
      }
      seen.push(`${c.name}: ${label}`);
    }
    this.confirmed.set(p.uid, ids);
    await this.setCondition(p, 'True', 'LabelMatches', `read from /proc/<pid>/attr/apparmor/current: ${seen.join('; ')}`);
    await this.o.event(p, 'Confined', `confined as planned: ${seen.join('; ')}`, `Confined ${ids}`);
  }

  private async setCondition(p: NodePod, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    const cond = { type: CONFINED_CONDITION, status, reason, message: message.slice(0, 1024), lastTransitionTime: new Date(this.o.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') };
    await this.o.api.patch(`/api/v1/namespaces/${encodeURIComponent(p.namespace)}/pods/${encodeURIComponent(p.name)}/status`, { status: { conditions: [cond] } }, 'strategic');
  }
}
