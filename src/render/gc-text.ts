// The text view of a GC run (`lsmns gc`): one line per namespace, with why. It only reads the report.

import type { CollectReport, Collected } from '../apply/gc.js';

export function renderGcText(r: CollectReport & { dryRun: boolean }): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const who = (c: Collected) => (c.pod.namespace && c.pod.name ? `pod ${c.pod.namespace}/${c.pod.name}` : c.podKey);
  const lines = [
    ...r.staleBootDirs.map((d) => `${r.dryRun ? 'would drop' : 'dropped'} markers of an earlier boot: ${d} (their namespaces died with that boot)`),
    ...r.removed.map((c) => `${verb} ${c.namespace} (${who(c)}): ${c.why}`),
    ...r.unproven.map((c) => `left ${c.namespace} (${who(c)}): ${c.why}`),
    ...r.waiting.map((c) => `waiting ${c.namespace} (${who(c)}): ${c.why}; inside the grace period`),
    ...(r.runtimeRecords ?? []).map((x) => `${r.dryRun ? 'would drop' : 'dropped'} ${x}`),
    ...(r.corrupt ?? []).map((m) => `CORRUPT ${m}`),
    ...r.failed.map((c) => `FAILED ${c.namespace} (${who(c)}): ${c.why}; ${c.error}`),
  ];
  return lines.length ? lines.join('\n') : 'nothing to collect';
}
