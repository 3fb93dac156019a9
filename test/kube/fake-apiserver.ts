// A small in-process fake of the Kubernetes API server, for the kube side's unit tests and benchmarks, which
// need faults on demand and no root (docs/kubernetes.md lists each, and why; test/cluster/ uses a real one).
// It serves list and watch (JSON lines, resourceVersion, label and field selectors) for pods, configmaps, nodes
// and namespaces; it can answer a watch with 410 Gone, drop connections or stall them; and it records posted
// Events, patches and Lease writes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { HttpKubeApi } from '../../src/kube/client.js';

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown }; [k: string]: unknown };
type Kind = 'pods' | 'configmaps' | 'nodes' | 'namespaces';
const NAMESPACED: Record<Kind, boolean> = { pods: true, configmaps: true, nodes: false, namespaces: false };
const KIND_NAME: Record<Kind, string> = { pods: 'Pod', configmaps: 'ConfigMap', nodes: 'Node', namespaces: 'Namespace' };

interface LogEntry { rv: number; kind: Kind; type: 'ADDED' | 'MODIFIED' | 'DELETED'; obj: Obj }
interface Watcher { kind: Kind; ns: string | null; label: string | null; field: string | null; res: ServerResponse }

export interface Recorded { method: string; path: string; body: unknown; contentType?: string; /** performance.now() on arrival */ at?: number }

function matchLabels(sel: string | null, labels: Record<string, string> | undefined): boolean {
  if (!sel) return true;
  return sel.split(',').every((term) => {
    const t = term.trim();
    if (t.includes('!=')) { const [k, v] = t.split('!='); return labels?.[k!] !== v; }
    if (t.includes('=')) { const [k, v] = t.split(/==?/); return labels?.[k!] === v; }
    return labels?.[t] !== undefined;
  });
}

function fieldValue(o: Obj, path: string): string {
  let cur: unknown = o;
  for (const p of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[p];
  return cur === undefined || cur === null ? '' : String(cur);
}

function matchFields(sel: string | null, o: Obj): boolean {
  if (!sel) return true;
  return sel.split(',').every((term) => {
    if (term.includes('!=')) { const [k, v] = term.split('!='); return fieldValue(o, k!) !== v; }
    const [k, v] = term.split(/==?/);
    return fieldValue(o, k!) === v;
  });
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class FakeApiServer {
  private server: Server | null = null;
  private rv = 1;
  /** Events at or below this resourceVersion are compacted: a watch from there gets 410 Gone. */
  private compactedRv = 0;
  private readonly store: Record<Kind, Map<string, Obj>> = { pods: new Map(), configmaps: new Map(), nodes: new Map(), namespaces: new Map() };
  private readonly log: LogEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private stalled = false;
  private readonly leases = new Map<string, Obj>();
  readonly events: Recorded[] = [];
  readonly patches: Recorded[] = [];
  readonly leaseWrites: Recorded[] = [];
  readonly requests: { method: string; path: string; query: Record<string, string> }[] = [];
  /** Keep only the last N log entries (0 = keep all); older watches get 410. */
  maxLog = 0;
  /** Don't record requests (benchmarks with many of them). */
  quiet = false;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => { this.handle(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); }); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server ? this.server.close(() => r()) : r());
  }

  /** A kubeconfig for this server (plain HTTP needs insecure-skip-tls-verify, KERNEL-FACTS B7). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'fake-token' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  writeKubeConfig(path: string): string {
    writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: fake-token\ncontexts:\n- name: c\n  context: {cluster: fake, user: u}\ncurrent-context: c\n`);
    return path;
  }

  api(): HttpKubeApi { return new HttpKubeApi(this.kubeConfig()); }

  get watchCount(): number { return this.watchers.size; }
  get resourceVersion(): number { return this.rv; }

  // ---- state changes (each is a watch event) ----

  private key(kind: Kind, o: Obj): string { return NAMESPACED[kind] ? `${o.metadata.namespace ?? 'default'}/${o.metadata.name}` : o.metadata.name; }

  put(kind: Kind, obj: Obj, opts: { silent?: boolean } = {}): Obj {
    const o = structuredClone(obj);
    o.apiVersion ??= 'v1';
    o.kind ??= KIND_NAME[kind];
    if (NAMESPACED[kind]) o.metadata.namespace ??= 'default';
    o.metadata.uid ??= `uid-${kind}-${this.rv}`;
    const k = this.key(kind, o);
    const existed = this.store[kind].has(k);
    o.metadata.resourceVersion = String(++this.rv);
    this.store[kind].set(k, o);
    if (!opts.silent) this.emit({ rv: this.rv, kind, type: existed ? 'MODIFIED' : 'ADDED', obj: o });
    return o;
  }

  remove(kind: Kind, namespace: string | null, name: string): void {
    const k = NAMESPACED[kind] ? `${namespace}/${name}` : name;
    const o = this.store[kind].get(k);
    if (!o) return;
    this.store[kind].delete(k);
    const gone = structuredClone(o);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, kind, type: 'DELETED', obj: gone });
  }

  getObject(kind: Kind, namespace: string | null, name: string): Obj | undefined {
    return this.store[kind].get(NAMESPACED[kind] ? `${namespace}/${name}` : name);
  }

  count(kind: Kind): number { return this.store[kind].size; }

  private emit(e: LogEntry): void {
    this.log.push(e);
    if (this.maxLog > 0 && this.log.length > this.maxLog) {
      const drop = this.log.splice(0, this.log.length - this.maxLog);
      this.compactedRv = drop[drop.length - 1]!.rv;
    }
    if (this.stalled) return;
    for (const w of this.watchers) this.send(w, e);
  }

  private send(w: Watcher, e: LogEntry): void {
    if (e.kind !== w.kind) return;
    if (w.ns && e.obj.metadata.namespace !== w.ns) return;
    if (!matchLabels(w.label, e.obj.metadata.labels) || !matchFields(w.field, e.obj)) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.obj })}\n`);
  }

  // ---- failure injection ----

  /** Compacts the whole log: every watch from an older resourceVersion gets 410, and live ones get it now. */
  gone(): void {
    this.compactedRv = this.rv;
    this.log.length = 0;
    for (const w of this.watchers) {
      w.res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
    }
    this.watchers.clear();
  }

  /** Compacts the log without telling live watches: the next watch from an older resourceVersion gets 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.log.length = 0;
  }

  /** Drops every watch connection without a word, as an API-server restart or a load balancer does. */
  dropWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** While stalled, watches stay open but receive nothing (a half-dead connection). */
  stall(on: boolean): void { this.stalled = on; }

  // ---- HTTP ----

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const t = Buffer.concat(chunks).toString('utf8');
    return t ? JSON.parse(t) : null;
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (!this.quiet) this.requests.push({ method, path, query: q });
    if (req.headers.authorization !== 'Bearer fake-token') return this.status(res, 401, 'Unauthorized', 'no or wrong token');

    const lease = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(path);
    if (lease) return this.handleLease(req, res, method, lease[1]!, lease[2]);

    const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(path);
    if (ev) {
      const body = await this.body(req);
      this.events.push({ method, path, body, contentType: req.headers['content-type'], at: performance.now() });
      return this.json(res, method === 'POST' ? 201 : 200, body);
    }

    // /api/v1/{kind} | /api/v1/namespaces/{ns}/{kind}[/{name}[/status]] | /api/v1/{nodes|namespaces}/{name}
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/(pods|configmaps)|(pods|configmaps|nodes|namespaces))(?:\/([^/]+))?(?:\/(status))?$/.exec(path);
    if (!m) return this.status(res, 404, 'NotFound', `no route ${path}`);
    const kind = (m[2] ?? m[3]) as Kind;
    const ns = m[1] ?? null;
    const name = m[4];
    if (name === undefined) {
      if (method !== 'GET') return this.status(res, 405, 'MethodNotAllowed', method);
      return q.watch === 'true' ? this.serveWatch(req, res, kind, ns, q) : this.serveList(res, kind, ns, q);
    }
    const k = NAMESPACED[kind] ? `${ns}/${name}` : name;
    const cur = this.store[kind].get(k);
    if (method === 'GET') return cur ? this.json(res, 200, cur) : this.status(res, 404, 'NotFound', `${kind} "${name}" not found`);
    if (method === 'PATCH') {
      const body = await this.body(req);
      if (!this.quiet || m[5] === 'status') this.patches.push({ method, path, body, contentType: req.headers['content-type'], at: performance.now() });
      if (!cur) return this.status(res, 404, 'NotFound', `${kind} "${name}" not found`);
      const next = this.applyPatch(cur, body, m[5] === 'status');
      return this.json(res, 200, this.put(kind, next as Obj));
    }
    return this.status(res, 405, 'MethodNotAllowed', method);
  }

  /** Merge patch; for pods/status, conditions merge by type, as strategic merge does. */
  private applyPatch(cur: Obj, patch: unknown, status: boolean): unknown {
    if (status && patch && typeof patch === 'object' && Array.isArray((patch as { status?: { conditions?: unknown } }).status?.conditions)) {
      const p = patch as { status: { conditions: { type: string }[] } };
      const old = ((cur.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).filter((c) => !p.status.conditions.some((n) => n.type === c.type));
      const merged = mergePatch(cur, { ...p, status: { ...p.status, conditions: null } }) as Obj;
      (merged.status as Record<string, unknown>).conditions = [...old, ...p.status.conditions];
      return merged;
    }
    return mergePatch(cur, patch);
  }

  private selected(kind: Kind, ns: string | null, q: Record<string, string>): Obj[] {
    const out: Obj[] = [];
    for (const o of this.store[kind].values()) {
      if (ns && o.metadata.namespace !== ns) continue;
      if (matchLabels(q.labelSelector ?? null, o.metadata.labels) && matchFields(q.fieldSelector ?? null, o)) out.push(o);
    }
    return out;
  }

  private serveList(res: ServerResponse, kind: Kind, ns: string | null, q: Record<string, string>): void {
    // Streamed in pieces: one JSON.stringify of 10,000 pods would stall the benchmark's event loop.
    const items = this.selected(kind, ns, q);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`{"kind":"${KIND_NAME[kind]}List","apiVersion":"v1","metadata":{"resourceVersion":"${this.rv}"},"items":[`);
    for (let i = 0; i < items.length; i += 500) res.write((i > 0 ? ',' : '') + items.slice(i, i + 500).map((o) => JSON.stringify(o)).join(','));
    res.end(']}');
  }

  /** Answer an expired resourceVersion with an HTTP 410 instead of a 200 and an ERROR event (both happen). */
  goneAsHttpStatus = false;

  private serveWatch(req: IncomingMessage, res: ServerResponse, kind: Kind, ns: string | null, q: Record<string, string>): void {
    const from = Number(q.resourceVersion ?? '0');
    if (this.goneAsHttpStatus && q.resourceVersion && from < this.compactedRv) return this.status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (q.resourceVersion && from < this.compactedRv) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    const w: Watcher = { kind, ns, label: q.labelSelector ?? null, field: q.fieldSelector ?? null, res };
    if (!this.stalled) for (const e of this.log) if (e.rv > from) this.send(w, e);
    this.watchers.add(w);
    req.on('close', () => this.watchers.delete(w));
  }

  private async handleLease(req: IncomingMessage, res: ServerResponse, method: string, ns: string, name: string | undefined): Promise<void> {
    const body = method === 'GET' ? null : await this.body(req) as Obj;
    if (method !== 'GET') this.leaseWrites.push({ method, path: req.url ?? '', body });
    if (method === 'GET') {
      const l = this.leases.get(`${ns}/${name}`);
      return l ? this.json(res, 200, l) : this.status(res, 404, 'NotFound', `leases "${name}" not found`);
    }
    if (method === 'POST') {
      const k = `${ns}/${body!.metadata.name}`;
      if (this.leases.has(k)) return this.status(res, 409, 'AlreadyExists', `leases "${body!.metadata.name}" already exists`);
      body!.metadata.resourceVersion = String(++this.rv);
      this.leases.set(k, body!);
      return this.json(res, 201, body);
    }
    if (method === 'PUT') {
      const k = `${ns}/${name}`;
      const cur = this.leases.get(k);
      if (!cur) return this.status(res, 404, 'NotFound', `leases "${name}" not found`);
      if (body!.metadata.resourceVersion !== cur.metadata.resourceVersion) return this.status(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
      body!.metadata.resourceVersion = String(++this.rv);
      this.leases.set(k, body!);
      return this.json(res, 200, body);
    }
    return this.status(res, 405, 'MethodNotAllowed', method);
  }

  lease(ns: string, name: string): Obj | undefined { return this.leases.get(`${ns}/${name}`); }
}
