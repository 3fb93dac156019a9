// The guest side of make test-qemu: one boot per kernel runs all of it. It probes the node, runs the fidelity
// scenarios and the guest checks through the securityfs backend, and writes one JSON document for the host.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { runScenarios } from '../../kernel/fidelity/scenarios.js';
import { GUEST_CHECKS } from './checks.js';

const out = process.argv[2] ?? '/mnt/results.json';
const only = process.env.LSMNS_GUEST_ONLY ? process.env.LSMNS_GUEST_ONLY.split(',') : null;
const uptime = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const startedAt = uptime();
const k = new SecurityfsKernel({ securityfs: '/sys/kernel/security', stateDir: '/tmp/lsmns-state' });
const detail = k.probeDetail();
const t0 = performance.now();
const scenarios = await runScenarios(k);
const scenariosMs = Math.round(performance.now() - t0);
const checks: Record<string, unknown> = {};
for (const c of GUEST_CHECKS) {
  if (only && !only.includes(c.name)) continue;
  const t = performance.now();
  try {
    checks[c.name] = { ...(await c.run(k)), ms: Math.round(performance.now() - t) };
  } catch (e) {
    checks[c.name] = { error: (e as Error).message, ms: Math.round(performance.now() - t) };
  }
}
// Tasks the run started and could not end (the host test requires none).
const leftover = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => {
  try {
    return readFileSync(`/proc/${d}/stat`, 'utf8');
  } catch {
    return '';
  }
}).filter((st) => st.split(') ')[1]?.split(' ')[1] === String(process.pid)).map((st) => st.split(' ').slice(0, 2).join(' '));
const doc = { formatVersion: 1, kind: 'lsmns-guest-run', facts: detail.facts, syscallProbe: detail.syscalls, scenarios, checks, leftover, timing: { nodeStartedAtUptimeS: startedAt, scenariosMs, finishedAtUptimeS: uptime() } };
writeFileSync(out, `${JSON.stringify(doc, null, 1)}\n`);
process.stdout.write(`guest run: ${Object.keys(scenarios).length} scenarios in ${scenariosMs} ms, ${Object.keys(checks).length} checks; uptime ${uptime()} s\n`);
