// Text view of node facts (renders the JSON form of `lsmns probe`).

import type { NodeFacts } from '../kernel/facts.js';

const yn = (b: boolean) => (b ? 'yes' : 'no');

export function renderFactsText(f: NodeFacts, where: string, notes: string[] = []): string {
  const a = f.apparmor;
  const out = [
    `Node facts from ${where} (${f.source})`,
    `  kernel          ${f.kernel.release}`,
    `  LSMs            ${f.lsms.join(',') || '(none: securityfs not mounted?)'}`,
    `  securityfs      ${f.securityfs.mounted ? 'mounted' : 'not mounted'}`,
    `  AppArmor        ${a.enabled ? 'enabled' : 'not enabled'}${a.domainVersion ? `, domain version ${a.domainVersion}` : ''}`,
    `  namespaces      ${yn(a.policyNamespaces)}   stacking ${yn(a.stacking)}`,
    `  this task       namespace ${a.nsName} at level ${a.nsLevel}${a.nsStacked ? ', stacked' : ''}; policy admin ${yn(a.policyAdmin)}`,
    `  attr            apparmor/ ${yn(f.attr.apparmorDir)}; display LSM interface ${f.attr.display ?? 'none'}; shared attr files reach ${f.attr.sharedLsm ?? 'no LSM'}`,
    `  LSM syscalls    ${f.syscalls.lsmSelfAttr ? 'present (459-461)' : 'absent'}`,
    ...notes.map((n) => `  note            ${n}`),
  ];
  return `${out.join('\n')}\n`;
}
