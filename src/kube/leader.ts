// Leader election through a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the holder's
// lease has expired, renew every retry period, step down when a renewal cannot be made before the renew
// deadline. Optimistic concurrency (resourceVersion on PUT) decides races: a 409 means someone else won.

import { statusOf, type KubeApi } from './client.js';
import type { Logger } from './informer.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

export interface LeaderElectorOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
  logger?: Logger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
}

/** RFC 3339 with microseconds, the MicroTime format a Lease carries. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private timer: NodeJS.Timeout | null = null;
  private lastRenew = 0;
  private observed: { holder: string | null; renewMs: number; durationMs: number; seenAt: number } | null = null;
  private running = false;
  private tick: Promise<void> = Promise.resolve();
  private readonly o: Required<Omit<LeaderElectorOptions, 'logger' | 'onStartedLeading' | 'onStoppedLeading'>> & LeaderElectorOptions;

  constructor(o: LeaderElectorOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: Date.now, ...o };
  }

  get isLeader(): boolean { return this.leading; }

  private get path(): string { return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`; }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = () => {
      this.tick = this.tryAcquireOrRenew().finally(() => {
        if (this.running) this.timer = setTimeout(loop, this.o.retryPeriodMs);
      });
    };
    loop();
  }

  /** Stops; a leader releases the Lease (holder cleared) so a standby takes over without waiting out the lease. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.tick;
    if (this.leading) {
      try {
        const cur = await this.o.api.get<Lease>(`${this.path}/${this.o.name}`);
        if (cur.spec.holderIdentity === this.o.identity) {
          await this.o.api.replace(`${this.path}/${this.o.name}`, { ...cur, spec: { ...cur.spec, holderIdentity: null, renewTime: microTime(this.o.now()), leaseDurationSeconds: 1 } });
        }
      } catch { /* best effort: the lease expires anyway */ }
      this.setLeading(false);
    }
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    this.o.logger?.info({ identity: this.o.identity, lease: `${this.o.namespace}/${this.o.name}` }, v ? 'became leader' : 'lost leadership');
    if (v) this.o.onStartedLeading?.();
    else this.o.onStoppedLeading?.();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.o.now();
    const seconds = Math.ceil(this.o.leaseDurationMs / 1000);
    try {
      let cur: Lease | null = null;
      try {
        cur = await this.o.api.get<Lease>(`${this.path}/${this.o.name}`);
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      if (!cur) {
        await this.o.api.create(this.path, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { holderIdentity: this.o.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        } satisfies Lease);
        this.lastRenew = now;
        this.setLeading(true);
        return;
      }
      const holder = cur.spec.holderIdentity ?? null;
      const renewRaw = cur.spec.renewTime ? Date.parse(cur.spec.renewTime) : 0;
      // Expiry is judged on our own clock, from when we last saw the record change (client-go does the same).
      if (!this.observed || this.observed.holder !== holder || this.observed.renewMs !== renewRaw) {
        this.observed = { holder, renewMs: renewRaw, durationMs: (cur.spec.leaseDurationSeconds ?? seconds) * 1000, seenAt: now };
      }
      const seenAt = this.observed.seenAt;
      const mine = holder === this.o.identity;
      const expired = !holder || seenAt + this.observed.durationMs <= now;
      if (!mine && !expired) {
        this.setLeading(false);
        return;
      }
      const spec: LeaseSpec = mine
        ? { ...cur.spec, renewTime: microTime(now), leaseDurationSeconds: seconds }
        : { holderIdentity: this.o.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: (cur.spec.leaseTransitions ?? 0) + 1 };
      await this.o.api.replace(`${this.path}/${this.o.name}`, { ...cur, spec });
      this.lastRenew = now;
      this.setLeading(true);
    } catch (e) {
      if (statusOf(e) !== 409) this.o.logger?.warn({ err: (e as Error).message }, 'lease update failed');
      if (this.leading && this.o.now() - this.lastRenew > this.o.renewDeadlineMs) this.setLeading(false);
      else if (statusOf(e) === 409) this.setLeading(false);
    }
  }
}
