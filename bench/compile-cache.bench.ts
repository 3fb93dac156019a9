// The securityfs backend's compile cache (SPEC §5): getting the binary for a policy when the cache is warm (one
// file read, what a container start pays) against compiling it with apparmor_parser (a cold cache), measured
// interleaved in the same run on this host's parser. The kernel write itself is measured in the qemu guest
// (make test-qemu: cold about 400 ms, warm about 15 ms for the whole load under TCG).

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledPolicy } from '../src/kernel/securityfs/compile.js';
import { digestOf } from '../src/policy/store.js';
import { fmt, median, ratioLine } from './util.js';
import type { BenchModule } from './run.js';

/** A tenant profile of the usual shape: the base abstraction plus a few rules. */
const TEXT = 'abi <abi/3.0>,\ninclude <tunables/global>\n\nprofile web flags=(attach_disconnected) {\n  include <abstractions/base>\n  /srv/www/** r,\n  /tmp/** rw,\n  network inet stream,\n  signal (receive) peer=unconfined,\n  deny /secret r,\n}\n';

const bench: BenchModule = {
  title: 'compile cache: warm load vs apparmor_parser',
  async run() {
    const base = mkdtempSync(join(tmpdir(), 'lsmns-bench-cc-'));
    mkdirSync(join(base, 'sfs', 'apparmor', 'features', 'domain'), { recursive: true });
    writeFileSync(join(base, 'sfs', 'apparmor', 'features', 'domain', 'version'), '1.2\n');
    const aaDir = join(base, 'sfs', 'apparmor');
    const policy = { ref: 'web', path: '/bench/web.aa', text: TEXT, digest: digestOf(TEXT) };
    const warmDir = join(base, 'warm');
    await compiledPolicy(policy, { stateDir: warmDir, aaDir, defaultLocation: true });
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < 12; i++) {
      let t0 = performance.now();
      const c = await compiledPolicy(policy, { stateDir: join(base, `cold-${i}`), aaDir, defaultLocation: true });
      if (c.cached) throw new Error('a fresh state dir must miss');
      if (i >= 2) cold.push(performance.now() - t0);
      t0 = performance.now();
      const w = await compiledPolicy(policy, { stateDir: warmDir, aaDir, defaultLocation: true });
      if (!w.cached) throw new Error('the warm state dir must hit');
      if (i >= 2) warm.push(performance.now() - t0);
    }
    const c = median(cold);
    const w = median(warm);
    console.log(`  cold: apparmor_parser -Q -K -S (median of ${cold.length})`.padEnd(54) + fmt(c).padStart(11));
    console.log(ratioLine('warm: cached binary (median), against cold', w, c));
    console.log(`  a warm load skips ${fmt(c - w)} of compiling, ${(c / w).toFixed(0)}x less work before the one write`);
  },
};

export default bench;
