// List-then-watch with resourceVersion, kept alive against API-server restarts and errors (SPEC §3):
// 410 Gone relists; any other error restarts with bounded, jittered backoff; a last-seen watchdog relists
// when the stream goes silent. The cache holds only what `project` keeps, so memory follows what is needed.

import { statusOf, type KubeApi, type KubeObject, type ListOptions, type WatchEventType, type WatchHandle } from './client.js';

export interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

export type RelistCause = 'startup' | 'gone' | 'watchdog' | 'error';
export type RestartCause = 'closed' | 'error';

export interface InformerHooks {
  relisted?(resource: string, cause: RelistCause, items: number): void;
  restarted?(resource: string, cause: RestartCause): void;
}

export interface InformerHandlers<C> {
  add?(c: C): void;
  update?(old: C, c: C): void;
  delete?(c: C): void;
}

export interface InformerOptions<C> extends ListOptions {
  api: KubeApi;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  /** A short, fixed name for logs and metric labels ("pods"). */
  resource: string;
  /** What is kept of an object; null drops it. Must read only what the caller needs. */
  project: (o: KubeObject) => C | null;
  /** Key and version of a projected object. */
  keyOf: (c: C) => string;
  versionOf: (c: C) => string;
  handlers?: InformerHandlers<C>;
  hooks?: InformerHooks;
  logger?: Logger;
  /** No event (bookmarks included) for this long forces a relist. */
  watchdogMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** A watch that ends sooner than this after it started counts as a failure for the backoff. */
  minHealthyWatchMs?: number;
  random?: () => number;
  now?: () => number;
}

type WatchOutcome = { kind: 'gone' } | { kind: 'silent' } | { kind: 'closed' } | { kind: 'error'; err: unknown } | { kind: 'stopped' };

const quiet: Logger = { info() {}, warn() {} };

/** min(max, initial·2^n), jittered into its upper half so that restarting clients spread out. */
export function backoffDelay(failures: number, o: { initialMs: number; maxMs: number }, random: () => number): number {
  const d = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(failures, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}

export class Informer<C> {
  readonly cache = new Map<string, C>();
  private rv = '';
  private stopped = true;
  private handle: WatchHandle | null = null;
  private wake: (() => void) | null = null;
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];
  private loop: Promise<void> | null = null;
  private readonly o: Required<Pick<InformerOptions<C>, 'watchdogMs' | 'backoff' | 'minHealthyWatchMs' | 'random' | 'now'>> & InformerOptions<C>;

  constructor(o: InformerOptions<C>) {
    this.o = { watchdogMs: 300_000, backoff: { initialMs: 500, maxMs: 30_000 }, minHealthyWatchMs: 1_000, random: Math.random, now: Date.now, ...o };
  }

  get synced(): boolean { return this.syncedOnce; }
  get resourceVersion(): string { return this.rv; }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.handle?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Resolves once the first list has filled the cache. */
  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => { this.wake = null; r(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = null; r(); };
    });
  }

  private async run(): Promise<void> {
    const log = this.o.logger ?? quiet;
    let failures = 0;
    let cause: RelistCause = 'startup';
    while (!this.stopped) {
      try {
        await this.relist(cause);
      } catch (e) {
        log.warn({ resource: this.o.resource, err: (e as Error).message, failures }, 'list failed; retrying with backoff');
        this.o.hooks?.restarted?.(this.o.resource, 'error');
        await this.sleep(backoffDelay(failures++, this.o.backoff, this.o.random));
        cause = 'error';
        continue;
      }
      failures = 0;
      for (;;) {
        if (this.stopped) return;
        const started = this.o.now();
        const out = await this.watchOnce();
        if (out.kind === 'stopped') return;
        if (out.kind === 'gone' || out.kind === 'silent') {
          log.info({ resource: this.o.resource, why: out.kind }, 'relisting');
          cause = out.kind === 'gone' ? 'gone' : 'watchdog';
          break;
        }
        if (statusOf(out.kind === 'error' ? out.err : null) === 410) { cause = 'gone'; break; }
        const healthy = this.o.now() - started >= this.o.minHealthyWatchMs;
        failures = healthy && out.kind === 'closed' ? 0 : failures + 1;
        this.o.hooks?.restarted?.(this.o.resource, out.kind === 'closed' ? 'closed' : 'error');
        if (out.kind === 'error') log.warn({ resource: this.o.resource, err: (out.err as Error)?.message ?? String(out.err), failures }, 'watch failed; restarting with backoff');
        if (failures > 0) await this.sleep(backoffDelay(failures - 1, this.o.backoff, this.o.random));
      }
    }
  }

  private async relist(cause: RelistCause): Promise<void> {
    const r = await this.o.api.list(this.o.path, { labelSelector: this.o.labelSelector, fieldSelector: this.o.fieldSelector });
    const h = this.o.handlers ?? {};
    const seen = new Set<string>();
    for (const item of r.items) {
      const c = this.o.project(item as KubeObject);
      if (c === null) continue;
      const k = this.o.keyOf(c);
      seen.add(k);
      const old = this.cache.get(k);
      this.cache.set(k, c);
      if (old === undefined) h.add?.(c);
      else if (this.o.versionOf(old) !== this.o.versionOf(c)) h.update?.(old, c);
    }
    for (const [k, old] of this.cache) {
      if (seen.has(k)) continue;
      this.cache.delete(k);
      h.delete?.(old);
    }
    this.rv = r.resourceVersion;
    this.o.hooks?.relisted?.(this.o.resource, cause, this.cache.size);
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private apply(type: WatchEventType, obj: KubeObject): void {
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.rv = rv;
    if (type === 'BOOKMARK') return;
    const h = this.o.handlers ?? {};
    const c = this.o.project(obj);
    const k = c !== null ? this.o.keyOf(c) : `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const old = this.cache.get(k);
    if (type === 'DELETED' || c === null) {
      // An object that stops matching the projection is gone for this informer.
      if (old !== undefined) { this.cache.delete(k); h.delete?.(old); }
      return;
    }
    this.cache.set(k, c);
    if (old === undefined) h.add?.(c);
    else h.update?.(old, c);
  }

  private watchOnce(): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      let settled = false;
      let lastSeen = this.o.now();
      let timer: NodeJS.Timeout | null = null;
      const finish = (o: WatchOutcome) => {
        if (settled) return;
        settled = true;
        if (timer) clearInterval(timer);
        this.handle?.abort();
        this.handle = null;
        this.wake = null;
        resolve(o);
      };
      this.wake = () => finish({ kind: 'stopped' });
      timer = setInterval(() => { if (this.o.now() - lastSeen > this.o.watchdogMs) finish({ kind: 'silent' }); }, Math.max(10, Math.floor(this.o.watchdogMs / 4)));
      this.o.api.watch(this.o.path, { labelSelector: this.o.labelSelector, fieldSelector: this.o.fieldSelector, resourceVersion: this.rv }, (type, obj) => {
        if (settled) return;
        lastSeen = this.o.now();
        if (type === 'ERROR') {
          const code = (obj as { code?: unknown }).code;
          finish(code === 410 ? { kind: 'gone' } : { kind: 'error', err: Object.assign(new Error(`watch error event: ${JSON.stringify(obj).slice(0, 200)}`), { statusCode: code }) });
          return;
        }
        this.apply(type, obj);
      }, (err) => finish(err ? { kind: 'error', err } : { kind: 'closed' }))
        .then((h) => { if (settled) h.abort(); else this.handle = h; }, (err) => finish({ kind: 'error', err }));
      if (this.stopped) finish({ kind: 'stopped' });
    });
  }
}
