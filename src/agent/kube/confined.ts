// The lsmns.io/Confined condition (SPEC §3): True only after the agent has read the label of each running app
// container's init from /proc and seen the planned one; False, with the label seen, when it is another.

import { readdirSync, readFileSync } from 'node:fs';
import type { KubeApi } from '../../kube/client.js';
import type { EventReason } from '../../kube/events.js';
import { labelMatches, stripMode } from '../../kernel/label.js';
import type { KernelPort } from '../../kernel/port.js';
import type { Plan } from '../../plan/types.js';
import type { NodePod } from './pods.js';

export const CONFINED_CONDITION = 'lsmns.io/Confined';

const stripScheme = (id: string) => id.replace(/^[a-z0-9-]+:\/\//, '');

/** Finds a container's init on the host: the process in a cgroup named after the id whose parent is not. */
export async function pidFromCgroups(containerId: string, procRoot = '/proc'): Promise<number | null> {
  const id = stripScheme(containerId);
  if (!/^[A-Za-z0-9_.-]{8,128}$/.test(id)) return null;
  const inCgroup = new Set<number>();
  const parent = new Map<number, number>();
  for (const e of readdirSync(procRoot)) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readFileSync(`${procRoot}/${e}/cgroup`, 'utf8').includes(id)) continue;
      const stat = readFileSync(`${procRoot}/${e}/stat`, 'utf8');
      inCgroup.add(Number(e));
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* the process ended meanwhile */ }
  }
  const inits = [...inCgroup].filter((p) => !inCgroup.has(parent.get(p)!)).sort((a, b) => a - b);
  return inits[0] ?? null;
}

export interface ConfinedCheckOptions {
  api: KubeApi;
  port: KernelPort;
  /** The init pid of a container, from its CRI id ("containerd://<id>"); default: a /proc cgroup scan. */
  resolvePid?: (containerId: string) => Promise<number | null>;
  now: () => number;
  /** Records an Event once per key and pod. */
  event: (p: NodePod, reason: EventReason, message: string, onceKey: string) => Promise<void>;
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
    const resolve = this.o.resolvePid ?? ((id: string) => pidFromCgroups(id));
    const seen: string[] = [];
    for (const { c, s } of runningApps) {
      const pid = await resolve(s!.id!);
      if (pid === null) return; // not visible yet: try again on the next pass
      const label = stripMode(await this.o.port.readTaskLabel(pid));
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
