// The Kubernetes API adapter: client-node 1.4 loads the kubeconfig (file or in-cluster) and does the auth and
// TLS; lsmns asks for plain JSON through it. Plain objects keep the informer's projection cheap and let the
// schema code read pods exactly as the CLI does. Everything the kube side does goes through `KubeApi`.

import http from 'node:http';
import https from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { ExitCode, LsmnsError } from '../errors.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [k: string]: unknown;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

/** A running watch; `abort` ends it without calling `onDone` again. */
export interface WatchHandle {
  abort(): void;
}

/** An HTTP status error from the API server, with the Status object's reason when it sent one. */
export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly body: unknown, what: string) {
    const msg = typeof body === 'object' && body && 'message' in body ? String((body as { message: unknown }).message) : '';
    super(`${what}: HTTP ${statusCode}${msg ? `: ${msg}` : ''}`);
    this.name = 'ApiError';
  }
}

export interface KubeApi {
  list<T = KubeObject>(path: string, o?: ListOptions): Promise<ListResult<T>>;
  /** Streams events after `resourceVersion`; `onDone` gets null on a clean close, else the error (statusCode 410 = Gone). */
  watch(path: string, o: ListOptions & { resourceVersion: string }, onEvent: (type: WatchEventType, obj: KubeObject) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
  get<T = KubeObject>(path: string): Promise<T>;
  create<T = KubeObject>(path: string, body: unknown): Promise<T>;
  replace<T = KubeObject>(path: string, body: unknown): Promise<T>;
  patch<T = KubeObject>(path: string, body: unknown, type: 'merge' | 'strategic' | 'json'): Promise<T>;
}

const PATCH_TYPES = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json', json: 'application/json-patch+json' } as const;

export interface ClientSource {
  /** A kubeconfig file; absent: in-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig. */
  kubeconfig?: string;
  inCluster?: boolean;
  /** Request timeout for non-watch calls. */
  timeoutMs?: number;
}

export function loadKubeConfig(s: ClientSource, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (s.kubeconfig) kc.loadFromFile(s.kubeconfig);
    else if (s.inCluster || env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (e) {
    throw new LsmnsError({ code: 'KubeConfigInvalid', exitCode: ExitCode.InvalidInput, message: `cannot load the Kubernetes client configuration${s.kubeconfig ? ` from ${s.kubeconfig}` : ''}: ${(e as Error).message}`, remedy: 'give --kubeconfig FILE, or run in a pod with a service account', cause: e });
  }
  if (!kc.getCurrentCluster()) {
    throw new LsmnsError({ code: 'KubeConfigInvalid', exitCode: ExitCode.InvalidInput, message: 'the Kubernetes client configuration has no current cluster', remedy: 'give --kubeconfig FILE with a current-context, or run in a pod with a service account' });
  }
  return kc;
}

/** The one implementation of KubeApi: client-node's auth and TLS agent, plain JSON over node:http(s). */
export class HttpKubeApi implements KubeApi {
  private readonly server: string;
  private readonly watcher: Watch;

  constructor(private readonly kc: KubeConfig, private readonly timeoutMs = 30_000) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
    this.watcher = new Watch(kc);
  }

  private async call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const opts = await this.kc.applyToFetchOptions({});
    const headers: Record<string, string> = { accept: 'application/json' };
    (opts.headers as unknown as Headers).forEach((v, k) => { headers[k] = v; });
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) { headers['content-type'] = contentType; headers['content-length'] = String(payload.length); }
    const url = new URL(this.server + path);
    // Looked up per call (not bound at import), so that request interception in tests sees it.
    const req = url.protocol === 'http:' ? http.request : https.request;
    return new Promise<T>((resolve, reject) => {
      const r = req(url, { method, headers, agent: opts.agent as never, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text ? JSON.parse(text) : null; } catch { /* keep the text for the error */ }
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) resolve(parsed as T);
          else reject(new ApiError(res.statusCode ?? 0, parsed, `${method} ${path}`));
        });
      });
      r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timed out after ${this.timeoutMs} ms`)));
      r.on('error', reject);
      r.end(payload);
    });
  }

  async list<T>(path: string, o: ListOptions = {}): Promise<ListResult<T>> {
    const q = new URLSearchParams();
    if (o.labelSelector) q.set('labelSelector', o.labelSelector);
    if (o.fieldSelector) q.set('fieldSelector', o.fieldSelector);
    const qs = q.toString();
    const r = await this.call<{ items?: T[]; metadata?: { resourceVersion?: string } }>('GET', qs ? `${path}?${qs}` : path);
    return { items: r.items ?? [], resourceVersion: r.metadata?.resourceVersion ?? '' };
  }

  async watch(path: string, o: ListOptions & { resourceVersion: string }, onEvent: (type: WatchEventType, obj: KubeObject) => void, onDone: (err: unknown) => void): Promise<WatchHandle> {
    let aborted = false;
    const params: Record<string, string> = { resourceVersion: o.resourceVersion, allowWatchBookmarks: 'true' };
    if (o.labelSelector) params.labelSelector = o.labelSelector;
    if (o.fieldSelector) params.fieldSelector = o.fieldSelector;
    const ctl = await this.watcher.watch(path, params, (type, obj) => { if (!aborted) onEvent(type as WatchEventType, obj as KubeObject); }, (err) => { if (!aborted) onDone(err); });
    return { abort: () => { aborted = true; ctl.abort(); } };
  }

  get<T>(path: string): Promise<T> { return this.call<T>('GET', path); }
  create<T>(path: string, body: unknown): Promise<T> { return this.call<T>('POST', path, body); }
  replace<T>(path: string, body: unknown): Promise<T> { return this.call<T>('PUT', path, body); }
  patch<T>(path: string, body: unknown, type: 'merge' | 'strategic' | 'json'): Promise<T> { return this.call<T>('PATCH', path, body, PATCH_TYPES[type]); }
}

export function statusOf(e: unknown): number | null {
  if (e instanceof ApiError) return e.statusCode;
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : null;
}
