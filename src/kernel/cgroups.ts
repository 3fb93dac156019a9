// Where a running container's init is on a real node: the process in a cgroup named after the container id
// whose parent is not in it (runc, crun and CRI-O name the cgroup after the id). Read from /proc; no runtime API.

import { readdirSync, readFileSync } from 'node:fs';

const stripScheme = (id: string) => id.replace(/^[a-z0-9-]+:\/\//, '');

/** Finds a container's init on the host (CRI ids may carry a scheme, "containerd://<id>"): the process in a cgroup named after the id whose parent is not. */
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

