// Guest check: the generated mediation cases on the real kernel. Each host profile is loaded into the root
// namespace with apparmor_parser, each tenant profile into namespace "med" through the securityfs port, and each
// access is a real open by a static busybox that lsmns-task starts under host//&:med:tenant (r: cat; w: a
// truncating redirection). The host side compares the answers with the sim's (test/kernel/sim/mediation-cases.ts).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { helperPath } from '../../../src/kernel/securityfs/helper.js';
import type { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { digestOf } from '../../../src/policy/store.js';
import { MED_FILES, MED_NS, MED_ROOT, medLabel, mediationCases } from '../../kernel/sim/mediation-cases.js';

export async function mediationCheck(k: SecurityfsKernel): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const { pairs, cases } = mediationCases();
  const via = (await k.probe()).attr.apparmorDir ? 'apparmor/exec' : 'exec';
  rmSync(MED_ROOT, { recursive: true, force: true });
  for (const f of MED_FILES) { mkdirSync(dirname(f), { recursive: true }); writeFileSync(f, 'x\n'); }
  const tmp = mkdtempSync('/tmp/lsmns-med-policy-');
  await k.createNamespace(MED_NS);
  const loadErrors: string[] = [];
  for (const p of pairs) {
    const file = join(tmp, p.hostName);
    writeFileSync(file, p.host);
    const r = spawnSync('apparmor_parser', ['-r', '-K', file], { encoding: 'utf8' });
    if (r.status !== 0) loadErrors.push(`${p.hostName}: ${r.stderr.trim()}`);
    await k.loadPolicy(MED_NS, { ref: p.tenantName, path: `${tmp}/${p.tenantName}.aa`, text: p.tenant, digest: digestOf(p.tenant) });
  }
  const results = cases.map((c) => {
    const cmd = c.perm === 'r' ? ['/bin/busybox', 'cat', c.path] : ['/bin/busybox', 'sh', '-c', `: > ${c.path}`];
    // stdout is /dev/null: only the open is measured, not whether the label may write to the caller's pipe.
    const r = spawnSync(helperPath(), ['exec', '--via', via, '--label', medLabel(pairs[c.pair]!), '--', ...cmd], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'ignore', 'pipe'] });
    // lsmns-task exits 3 when the label itself was refused: that is not an answer about the access.
    return { status: r.status, allowed: r.status === 0, err: r.stderr.split('\n')[0] ?? '' };
  });
  await k.removeNamespace(MED_NS);
  for (const p of pairs) spawnSync('apparmor_parser', ['-R', join(tmp, p.hostName)]);
  rmSync(MED_ROOT, { recursive: true, force: true });
  return { loadErrors, results, ms: Math.round(performance.now() - t0) };
}
