// Guest-only checks: things only a real kernel can show (the compile cache, the shim's self-transition from the
// main thread, the probe command). Each returns data; the host-side test decides what must hold. End-to-end
// container checks (runc, crun, lsmns runtime) are added to GUEST_CHECKS the same way.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { TENANT } from '../../kernel/fidelity/scenarios.js';
import { containerChecks } from './containers.js';
import { mediationCheck } from './mediation.js';
import { faultsCheck } from './faults.js';
import { reliabilityCheck } from './reliability.js';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');

export interface GuestCheck {
  name: string;
  run(k: SecurityfsKernel): Promise<Record<string, unknown>>;
}

const ms = (t0: number) => Math.round(performance.now() - t0);

export const GUEST_CHECKS: GuestCheck[] = [
  {
    name: 'compile-cache',
    async run() {
      // Its own state dir, so that the first load is a cold compile whatever ran before.
      const k = new SecurityfsKernel({ securityfs: '/sys/kernel/security', stateDir: mkdtempSync('/tmp/lsmns-cc-') });
      await k.createNamespace('cc');
      let t0 = performance.now();
      await k.loadPolicy('cc', TENANT);
      const cold = { cached: k.lastCompile!.cached, compileMs: k.lastCompile!.compileMs, loadMs: ms(t0) };
      await k.removeNamespace('cc');
      await k.createNamespace('cc');
      t0 = performance.now();
      const profiles = await k.loadPolicy('cc', TENANT);
      const warm = { cached: k.lastCompile!.cached, loadMs: ms(t0) };
      const listing = (await k.profilesListing()).filter((l) => l.startsWith(':cc:'));
      await k.removeNamespace('cc');
      return { cold, warm, profiles, listing };
    },
  },
  {
    name: 'self-transition',
    async run(k) {
      await k.createNamespace('self');
      await k.loadPolicy('self', TENANT);
      const r = spawnSync(process.execPath, [`${REPO}/dist/test/qemu/guest/self-transition.js`, ':self:p'], { encoding: 'utf8', timeout: 120_000 });
      await k.removeNamespace('self');
      return { status: r.status, ...(JSON.parse(r.stdout || '{}') as Record<string, unknown>), stderr: r.stderr.trim() };
    },
  },
  {
    name: 'containers',
    run: (k) => containerChecks(k, REPO),
  },
  {
    name: 'mediation',
    run: (k) => mediationCheck(k),
  },
  {
    name: 'probe-command',
    async run() {
      const r = spawnSync(process.execPath, [`${REPO}/bin/lsmns.cjs`, 'probe', '--backend', 'securityfs', '--output', 'json'], { encoding: 'utf8', timeout: 120_000 });
      return { status: r.status, output: JSON.parse(r.stdout || 'null') as unknown, stderr: r.stderr.trim() };
    },
  },
  {
    name: 'reliability',
    run: (k) => reliabilityCheck(k, REPO),
  },
  {
    name: 'faults',
    run: (k) => faultsCheck(k),
  },
];
