// Text view of the simulated kernel (renders the JSON form of `lsmns sim show`).

import type { SimView } from '../kernel/sim/view.js';

export function renderSimText(v: SimView): string {
  const out: string[] = [];
  out.push(`Simulated kernel ${v.where}`);
  out.push(`  boot ${v.bootId}: kernel ${v.boot.kernel}, lsm=${v.boot.lsm}${v.boot.display ? `, attr/${v.boot.display}` : ''} (revision ${v.revision})`);
  out.push(`  active LSMs: ${v.lsms.join(',')}${v.lsms.includes('apparmor') ? '' : '  (AppArmor is not active)'}`);
  out.push('');
  out.push('AppArmor policy namespaces:');
  for (const ns of v.namespaces) {
    const indent = '  '.repeat(ns.level + 1);
    out.push(`${indent}${ns.name === 'root' ? 'root' : `:${ns.name}:`}  (id ${ns.id}, level ${ns.level})`);
    for (const p of ns.profiles) out.push(`${indent}  profile ${p.name} (${p.mode})  ${p.digest.slice(0, 19)}…`);
  }
  out.push('');
  out.push('Tasks (labels as the root namespace reads /proc/<pid>/attr/apparmor/current):');
  const w = Math.max(4, ...v.tasks.map((t) => t.comm.length));
  out.push(`  ${'PID'.padEnd(6)}${'COMM'.padEnd(w + 2)}LABEL`);
  for (const t of v.tasks) {
    const extra = [t.container ? `container ${t.container}` : '', t.display ? `display=${t.display}` : '', t.noNewPrivs ? 'no_new_privs' : ''].filter(Boolean).join(', ');
    out.push(`  ${String(t.pid).padEnd(6)}${t.comm.padEnd(w + 2)}${t.label}${extra ? `   [${extra}]` : ''}`);
  }
  if (v.faults.length || v.denials.length) {
    out.push('');
    for (const f of v.faults) out.push(`  injected fault: ${f.op}${f.target ? ` ${f.target}` : ''} -> ${f.errno}`);
    for (const d of v.denials) out.push(`  permission denial: ${d.lsm} denies ${d.op} with ${d.errno}`);
  }
  return `${out.join('\n')}\n`;
}
