// Planner throughput (SPEC §7): plan() per second on one core, and `lsmns plan` over a generated
// 10,000-pod JSON List, measured against a 1-pod List (start-up) and `node -e 0` in the same run.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulatedFacts } from '../src/kernel/facts.js';
import { plan } from '../src/plan/planner.js';
import { requestFromPod } from '../src/plan/request.js';
import { checkPod } from '../src/schema/pod.js';
import { fmt, median, timeInterleaved } from './util.js';
import type { BenchModule } from './run.js';

const BIN = fileURLToPath(new URL('../../bin/lsmns.cjs', import.meta.url));

function pod(i: number): Record<string, unknown> {
  const annotations: Record<string, string> = i % 10 === 9 ? {} : {
    'lsmns.io/apparmor-namespace': i % 3 === 0 ? 'auto' : `tenant-${i % 50}`,
    'lsmns.io/apparmor-profile': 'web',
    'lsmns.io/apparmor-policy': i % 2 ? 'web' : 'cluster/baseline',
    ...(i % 4 === 0 ? { 'container.lsmns.io/sidecar': 'unconfined' } : {}),
  };
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: `team-${i % 20}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, annotations },
    spec: { containers: [{ name: 'web', image: 'nginx' }, { name: 'sidecar', image: 'envoy', securityContext: i % 5 === 0 ? { appArmorProfile: { type: 'Localhost', localhostProfile: 'host-envoy' } } : undefined }] },
  };
}

const bench: BenchModule = {
  title: 'planner throughput',
  async run() {
    const facts = simulatedFacts({ lsm: 'lockdown,capability,landlock,yama,apparmor,bpf', kernel: '6.1.0' });
    const reqs = Array.from({ length: 1000 }, (_, i) => requestFromPod(checkPod(pod(i), `p${i}`).pod!, `p${i}`, {}));
    for (let i = 0; i < 2000; i++) plan(reqs[i % reqs.length]!, facts);
    const rates: number[] = [];
    for (let round = 0; round < 5; round++) {
      let n = 0;
      const t0 = process.hrtime.bigint();
      while (Number(process.hrtime.bigint() - t0) < 300e6) {
        for (const r of reqs) plan(r, facts);
        n += reqs.length;
      }
      rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    const rate = median(rates);
    console.log(`  plan() on one core: ${Math.round(rate).toLocaleString('en')} plans/s (target >= 20,000: ${rate >= 20_000 ? 'ok' : 'BELOW'})`);

    const dir = mkdtempSync(join(tmpdir(), 'lsmns-bench-'));
    const big = join(dir, 'pods-10000.json');
    const one = join(dir, 'pods-1.json');
    writeFileSync(big, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 10_000 }, (_, i) => pod(i)) }));
    writeFileSync(one, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod(0)] }));
    const env = { ...process.env, LSMNS_SIM_STATE: join(dir, 'sim.json') };
    const wall = (args: string[]) => () => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
      if (r.status !== 0 && r.status !== 3) throw new Error(`${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const t = timeInterleaved({
      node: wall(['-e', '0']),
      one: wall([BIN, 'plan', '--pod', one, '--lsm', 'lockdown,capability,apparmor', '--kernel', '6.1.0', '--output', 'json']),
      bigJson: wall([BIN, 'plan', '--pod', big, '--lsm', 'lockdown,capability,apparmor', '--kernel', '6.1.0', '--output', 'json']),
      bigText: wall([BIN, 'plan', '--pod', big, '--lsm', 'lockdown,capability,apparmor', '--kernel', '6.1.0']),
    }, 5, 1);
    const node = median(t.node!);
    const start = median(t.one!);
    for (const [k, label] of [['bigJson', '--output json'], ['bigText', 'text']] as const) {
      const m = median(t[k]!);
      const rate = 10_000 / ((m - start) / 1000);
      console.log(`  lsmns plan, 10,000-pod List (${label}): ${fmt(m)}, ${(m / node).toFixed(1)}x node -e 0; ${Math.round(rate).toLocaleString('en')} pods/s beyond start-up (target >= 10,000: ${rate >= 10_000 ? 'ok' : 'BELOW'})`);
    }
    console.log(`  baselines: node -e 0 ${fmt(node)}; lsmns plan on a 1-pod List ${fmt(start)} (${(start / node).toFixed(1)}x)`);
  },
};
export default bench;
