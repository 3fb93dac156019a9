// A read-only view of the simulated kernel for `lsmns sim show`: namespaces, profiles, tasks and labels.

import { FORMAT_VERSION, type FormatVersion } from '../../format.js';
import { nsHname, renderLabel, viewOf } from '../label.js';
import type { SimNs, SimState } from './model.js';

export interface SimView {
  formatVersion: FormatVersion;
  where: string;
  bootId: string;
  boot: SimState['boot'];
  lsms: string[];
  revision: number;
  namespaces: { name: string; id: string; level: number; profiles: { name: string; mode: string; digest: string }[] }[];
  tasks: { pid: number; ppid: number; comm: string; container: string | null; label: string; display: string | null; noNewPrivs: boolean }[];
  nextNamespaceId: string;
  faults: SimState['faults'];
  denials: SimState['denials'];
}

export function simView(s: SimState, where: string): SimView {
  const namespaces: SimView['namespaces'] = [];
  const walk = (ns: SimNs, path: string[]) => {
    namespaces.push({
      name: path.length === 0 ? 'root' : nsHname(path),
      id: ns.id,
      level: ns.level,
      profiles: Object.entries(ns.profiles).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, p]) => ({ name, mode: p.mode, digest: p.digest })),
    });
    for (const c of Object.values(ns.children).sort((a, b) => (a.name < b.name ? -1 : 1))) walk(c, [...path, c.name]);
  };
  walk(s.root, []);
  const root = s.tasks['1'];
  const view = root ? viewOf(root.label) : [];
  return {
    formatVersion: FORMAT_VERSION,
    where,
    bootId: s.bootId,
    boot: s.boot,
    lsms: s.lsms,
    revision: s.revision,
    namespaces,
    tasks: Object.values(s.tasks).sort((a, b) => a.pid - b.pid).map((t) => ({ pid: t.pid, ppid: t.ppid, comm: t.comm, container: t.container, label: renderLabel(t.label, view), display: t.display, noNewPrivs: t.nnp })),
    nextNamespaceId: s.nextNsId,
    faults: s.faults,
    denials: s.denials,
  };
}
