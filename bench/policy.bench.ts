// Policy analysis (SPEC §7): `lsmns plan` on a pod whose policy includes abstractions/base, bounded by a host
// profile (so the plan lints the policy and lists its conflicts), against the same plan with no host profile
// directory to compare with (the lint alone) and with no policy on the node (no analysis at all), interleaved
// in one run; and `lsmns policy check` over the installed Debian profile corpus, in files per second.

import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchModule } from './run.js';
import { fmt, median, ok, ratioLine, timeInterleaved, wall } from './util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LSMNS = join(ROOT, 'bin/lsmns.cjs');
const FIX = join(ROOT, 'test/fixtures/plans/_node');

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a, uid: 7c1e8f6a-3b2d-4c5e-9f10-2a3b4c5d6e7f, annotations: {lsmns.io/apparmor-namespace: tenant-a, lsmns.io/apparmor-profile: web, lsmns.io/apparmor-policy: web}}
spec: {containers: [{name: web, image: nginx, securityContext: {appArmorProfile: {type: Localhost, localhostProfile: host-web}}}]}
`;

function corpus(): string[] {
  const out: string[] = [];
  for (const d of ['/etc/apparmor.d', '/usr/share/apparmor/extra-profiles']) {
    let names: string[] = [];
    try { names = readdirSync(d); } catch { continue; }
    for (const n of names) if (!n.startsWith('.') && statSync(join(d, n)).isFile()) out.push(join(d, n));
  }
  return out;
}

const bench: BenchModule = {
  title: 'policy analysis: plan with conflicts, policy check on the corpus',
  async run() {
    const dir = join('/tmp', `lsmns-bench-policy-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pod.yaml'), POD);
    const plan = (policyDir: string, hostDir: string) => () => ok(spawnSync(process.execPath, [LSMNS, 'plan', '--pod', join(dir, 'pod.yaml'), '--lsm', 'capability,apparmor', '--kernel', '6.1.0',
      '--policy-dir', policyDir, '--host-profile-dir', hostDir, '--output', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] }), 'lsmns plan');
    const t = timeInterleaved({
      none: wall(plan(join(dir, 'no-policies'), join(dir, 'no-hosts'))),
      lint: wall(plan(join(FIX, 'policies'), join(dir, 'no-hosts'))),
      conflicts: wall(plan(join(FIX, 'policies'), join(FIX, 'host-profiles'))),
    }, 12);
    const base = median(t.none!);
    console.log(`  lsmns plan, no policy on the node (no analysis): ${fmt(base)}`);
    console.log(ratioLine('the same, policy linted (includes abstractions/base)', median(t.lint!), base));
    console.log(ratioLine('the same, linted and compared with host profile host-web', median(t.conflicts!), base));
    const files = corpus();
    if (files.length === 0) {
      console.log('  policy check on the corpus: no installed profiles (scripts/deps.sh installs apparmor-profiles)');
      return;
    }
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [LSMNS, 'policy', 'check', '--output', 'json', ...files], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0 && r.status !== 2) ok(r, 'lsmns policy check');
    console.log(`  lsmns policy check on ${files.length} installed profiles: ${fmt(ms)}, ${(files.length / (ms / 1000)).toFixed(0)} files/s (one process, start-up included)`);
  },
};
export default bench;
