// `make bench`: runs every dist/bench/*.bench.js (or those named in BENCH=...) and prints its figures.
// Benchmarks report ratios against a baseline measured in the same run; they are not timed tests.

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchModule {
  title: string;
  /** Runs only when named in BENCH= (it starts a Kubernetes cluster, which one machine runs one of at a time). */
  explicit?: boolean;
  run(): Promise<void>;
}

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2).flatMap((a) => a.split(',')).filter(Boolean);
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort()
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));
for (const f of files) {
  const m = (await import(join(dir, f))) as { default: BenchModule };
  console.log(`\n== ${m.default.title} (${f.replace('.bench.js', '')})`);
  if (m.default.explicit && only.length === 0) { console.log(`  skipped (run it by name: make bench BENCH=${f.replace('.bench.js', '')})`); continue; }
  await m.default.run();
}
