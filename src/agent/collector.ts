// The agent's GC loop (SPEC §3: the agent runs GC in both modes): collectOrphans at start and every intervalMs,
// with the liveness of its mode, logging each namespace it removed and why. One run at a time; the time each
// namespace was first seen dead is kept across runs, so the grace runs from the death.

import { collectOnNode, type CollectReport, type Collected, type Liveness } from '../apply/gc.js';
import type { OwnerRecord } from '../apply/ownership.js';
import type { CommonOptions } from '../config.js';
import { toLsmnsError } from '../errors.js';
import type { Logger } from './server.js';

export const DEFAULT_GC_INTERVAL_S = 60;

export interface CollectorOptions {
  common: CommonOptions;
  graceMs: number;
  intervalMs: number;
  logger: Logger;
  /** The liveness decision of the agent's mode; null while it cannot decide yet (informers not listed). */
  liveness: () => ((rec: OwnerRecord) => Liveness) | null;
  now?: () => number;
  onRemoved?: (c: Collected) => void;
}

export class OrphanCollector {
  private readonly deadSince = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CollectReport | null> | null = null;

  constructor(private readonly o: CollectorOptions) {}

  /** Collects once now, then every intervalMs. */
  async start(): Promise<void> {
    await this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.running) await this.running;
  }

  /** One GC run (a run already under way is joined); null when the liveness cannot be decided yet or it failed. */
  runOnce(): Promise<CollectReport | null> {
    this.running ??= this.collect().finally(() => { this.running = null; });
    return this.running;
  }

  private async collect(): Promise<CollectReport | null> {
    const isLive = this.o.liveness();
    if (!isLive) return null;
    try {
      const r = await collectOnNode({ common: this.o.common, isLive, now: this.o.now ?? Date.now, graceMs: this.o.graceMs, deadSince: this.deadSince });
      for (const d of r.staleBootDirs) this.o.logger.info({ event: 'gc', dir: d, why: 'ownership markers of an earlier boot: their namespaces died with it' });
      for (const c of r.removed) {
        this.o.logger.info({ event: 'gc', namespace: c.namespace, podKey: c.podKey, pod: c.pod, why: c.why }, 'removed a namespace lsmns created whose holders are gone');
        this.o.onRemoved?.(c);
      }
      for (const c of r.unproven) this.o.logger.warn({ event: 'gc-unproven', namespace: c.namespace, podKey: c.podKey, why: c.why }, 'a crash left a namespace that nothing proves lsmns made: it stays');
      for (const x of r.runtimeRecords ?? []) this.o.logger.info({ event: 'gc-runtime-record', record: x }, 'dropped a runtime record a killed shim left');
      for (const c of r.failed) this.o.logger.warn({ event: 'gc-failed', namespace: c.namespace, podKey: c.podKey, why: c.why, err: c.error }, 'could not remove a namespace whose holders are gone; trying again on the next run');
      return r;
    } catch (e) {
      const err = toLsmnsError(e);
      this.o.logger.warn({ event: 'gc-failed', code: err.code, err: err.message });
      return null;
    }
  }
}
