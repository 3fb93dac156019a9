// The node agent's front door for served hooks: a small HTTP API on a root-only unix socket. It calls the same
// hook function as `lsmns hook` (one implementation, two front doors), serialises work per pod with an
// in-memory keyed lock, and treats every request as hostile input.

import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import AsyncLock from 'async-lock';
import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';

/** What a hook call produced: the same exit code and one-line reason the standalone hook would give. */
export interface HookReply {
  exitCode: number;
  /** The one line a runtime shows; empty on success. */
  message: string;
  /** The error's JSON form, when it failed. */
  error?: Record<string, unknown>;
}

/**
 * Serves one hook call: the stage from the path and the request body as `read` turned it (the text, by default).
 * The signal is aborted when the client hangs up before its answer: no effect may be completed for it.
 */
export type HookHandler<S = string> = (stage: string, state: S, signal: { readonly aborted: boolean }) => Promise<HookReply>;

/** An extra POST endpoint (the served shim's): it gets the body and answers with an exit code and a body. */
export interface RouteReply {
  exitCode: number;
  body: string;
}
export type Route = (body: string, contentType: string) => Promise<RouteReply>;

export interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface AgentServerOptions<S = string> {
  socket: string;
  /** Turns the body into what lockKey and the handler take, once per request; it must not throw. */
  read?: (stateText: string) => S;
  handler: HookHandler<S>;
  stages: readonly string[];
  logger: Logger;
  /** Requests larger than this are refused (413) before they are read. */
  maxBodyBytes?: number;
  /** A file descriptor handed over by systemd socket activation, instead of binding `socket`. */
  listenFd?: number;
  /** The key work is serialised on (the pod's namespace); null runs without the lock. */
  lockKey?: (state: S) => string | null;
  /** Extra POST endpoints by path, beside /v1/hooks/<stage>. */
  routes?: Record<string, Route>;
  /** Hook calls served at once; more wait for a slot. */
  maxConcurrent?: number;
  /**
   * The longest a call waits (for a slot, then for its pod's turn) before it is answered "busy" with nothing
   * done: well inside the thin client's 8 s, so that the client hears why instead of timing out.
   */
  queueWaitMs?: number;
  /**
   * The longest a call may take from its arrival: past it the call is aborted before its next effect and undone,
   * so that it is answered before the thin client's 8 s (a reply it never reads would be an effect no one knows).
   */
  callBudgetMs?: number;
}

export const DEFAULT_MAX_CONCURRENT = 16;
export const DEFAULT_QUEUE_WAIT_MS = 4_000;
export const DEFAULT_CALL_BUDGET_MS = 6_000;
/** What the answer is given to reach a client before its deadline (X-Lsmns-Deadline). */
const ANSWER_MARGIN_MS = 1_500;

/** X-Lsmns-Deadline: epoch ms when the thin client gives up; ignored unless it is a time within the next hour. */
function clientDeadline(v: string | string[] | undefined): number | null {
  if (typeof v !== 'string' || !/^\d{10,16}$/.test(v)) return null;
  const t = Number(v);
  return t > Date.now() - 60_000 && t < Date.now() + 3_600_000 ? t : null;
}

/** A counting semaphore whose waiters give up after a deadline (then the call is answered "busy"). */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}

  async take(deadline: number): Promise<boolean> {
    if (this.used < this.max) {
      this.used++;
      return true;
    }
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.used++; resolve(true); };
      const timer = setTimeout(() => { this.waiting.splice(this.waiting.indexOf(wake), 1); resolve(false); }, Math.max(0, deadline - Date.now()));
      this.waiting.push(wake);
    });
  }

  give(): void {
    this.used--;
    this.waiting.shift()?.();
  }
}

function busy(what: string, waitedMs: number): LsmnsError {
  return new LsmnsError({ code: 'Busy', exitCode: ExitCode.ApplyFailed, message: `the agent is busy: ${what} for ${waitedMs} ms; nothing was done`, remedy: 'the runtime reports the start failed; retry it (kubelet does)' });
}

export const DEFAULT_MAX_BODY = 512 * 1024;

/** HTTP status for each exit code: the thin client maps it back, so both front doors exit alike. */
export const STATUS_BY_EXIT: Record<number, number> = { 0: 200, 1: 500, 2: 400, 3: 409, 4: 422 };

async function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Binds the socket: a stale socket from a crashed agent is replaced, a live one is another agent's. */
export async function prepareSocketPath(path: string): Promise<void> {
  if (!path.startsWith('/')) throw invalidInput('InvalidInput', `--socket ${path} is not absolute`, 'give an absolute path such as /run/lsmns/agent.sock');
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw invalidInput('InvalidInput', `${path} exists and is not a socket`, 'remove it or give another --socket');
  if (await socketIsLive(path)) {
    throw new LsmnsError({ code: 'AgentAlreadyRunning', exitCode: ExitCode.NotPossible, message: `another lsmns agent is listening on ${path}`, remedy: `stop it first (systemctl stop lsmns-agent), or give this one another --socket` });
  }
  unlinkSync(path);
}

/** The request's URL; one the URL parser refuses is the client's mistake (400), not the agent's (500). */
function requestUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://lsmns');
  } catch {
    throw invalidInput('InvalidRequest', `request path ${JSON.stringify((raw ?? '').slice(0, 100))} is not a valid URL path`, 'POST the OCI state to /v1/hooks/<stage>');
  }
}

/** A percent-decoded path segment; a malformed percent-encoding (%zz, a cut UTF-8 sequence) is refused as input. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalidInput('InvalidRequest', `request path segment ${JSON.stringify(part.slice(0, 64))} has a malformed percent-encoding`, 'POST the OCI state to /v1/hooks/<stage>');
  }
}

function send(res: ServerResponse, exitCode: number, body: string, json: boolean, close: boolean): void {
  // An answer given while the agent stops closes its connection, or the client's keep-alive socket would
  // hold the server's close() for the keep-alive timeout (5 s).
  if (close) res.shouldKeepAlive = false;
  res.statusCode = STATUS_BY_EXIT[exitCode] ?? 500;
  res.setHeader('X-Lsmns-Exit-Code', String(exitCode));
  res.setHeader('Content-Type', json ? 'application/json' : 'text/plain; charset=utf-8');
  // The length lets a client stop reading at the answer's end instead of waiting for the close, which comes
  // only after the agent's own work on the call (its log line, the socket's teardown): about 2 ms per call.
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export class AgentServer<S = string> {
  private readonly o: Required<Omit<AgentServerOptions<S>, 'listenFd' | 'lockKey' | 'routes' | 'read'>> & Pick<AgentServerOptions<S>, 'listenFd' | 'lockKey' | 'routes' | 'read'>;
  private readonly slots: Slots;
  private server: Server | null = null;
  private readonly lock = new AsyncLock({ maxPending: 10_000 });
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private stopping = false;

  constructor(o: AgentServerOptions<S>) {
    this.o = { maxBodyBytes: DEFAULT_MAX_BODY, maxConcurrent: DEFAULT_MAX_CONCURRENT, queueWaitMs: DEFAULT_QUEUE_WAIT_MS, callBudgetMs: DEFAULT_CALL_BUDGET_MS, ...o };
    this.slots = new Slots(this.o.maxConcurrent);
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.headersTimeout = 5_000;
    server.requestTimeout = 60_000;
    if (this.o.listenFd !== undefined) {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ fd: this.o.listenFd }, resolve));
    } else {
      await prepareSocketPath(this.o.socket);
      // Root-only from the first moment: the socket is created 0600 (umask), not chmod-ed after the fact.
      const old = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.o.socket, resolve));
      } finally {
        process.umask(old);
      }
      chmodSync(this.o.socket, 0o600);
    }
    this.server = server;
    this.o.logger.info({ event: 'listening', socket: this.o.listenFd !== undefined ? `fd ${this.o.listenFd}` : this.o.socket });
  }

  /** Stops accepting, lets the requests in flight finish, then removes the socket. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (this.inFlight > 0) await new Promise<void>((resolve) => { this.idle = resolve; });
    await closed;
    if (this.o.listenFd === undefined) {
      try {
        unlinkSync(this.o.socket);
      } catch { /* already gone */ }
    }
    this.o.logger.info({ event: 'stopped' });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = process.hrtime.bigint();
    const json = (req.headers.accept ?? '').includes('application/json');
    this.inFlight++;
    let logged: Record<string, unknown> = { method: req.method, path: req.url };
    try {
      const url = requestUrl(req.url);
      if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 0, 'ok\n', false, this.stopping);
      const route = Object.hasOwn(this.o.routes ?? {}, url.pathname) ? this.o.routes![url.pathname]! : null;
      if (route) {
        if (req.method !== 'POST') throw invalidInput('InvalidRequest', `${req.method} is not allowed on ${url.pathname}`, 'use POST');
        const r = await route(await this.readBody(req), String(req.headers['content-type'] ?? ''));
        logged = { ...logged, exitCode: r.exitCode };
        return send(res, r.exitCode, r.body, false, this.stopping);
      }
      const m = /^\/v1\/hooks\/([^/]+)$/.exec(url.pathname);
      if (!m) throw new LsmnsError({ code: 'NotFound', exitCode: ExitCode.InvalidInput, message: `no such endpoint ${req.method} ${url.pathname.slice(0, 100)}`, remedy: `POST the OCI state to /v1/hooks/<stage>, stage one of ${this.o.stages.join(', ')}` });
      if (req.method !== 'POST') throw invalidInput('InvalidRequest', `${req.method} is not allowed on ${url.pathname}`, 'use POST');
      const stage = decodePathPart(m[1]!);
      if (!this.o.stages.includes(stage)) throw invalidInput('UnknownStage', `unknown hook stage ${JSON.stringify(stage.slice(0, 64))}`, `use one of ${this.o.stages.join(', ')}`);
      const body = await this.readBody(req);
      const state = this.o.read ? this.o.read(body) : body as S;
      const key = this.o.lockKey?.(state) ?? null;
      const reply = await this.serve(stage, state, key, res, clientDeadline(req.headers['x-lsmns-deadline']));
      logged = { ...logged, stage, key, exitCode: reply.exitCode, ...(reply.error ? { code: reply.error.code } : {}) };
      if (reply.exitCode === 0) return send(res, 0, json ? '{"exitCode":0}\n' : '', json, this.stopping);
      send(res, reply.exitCode, json ? `${JSON.stringify(reply.error ?? { exitCode: reply.exitCode, message: reply.message })}\n` : `${reply.message}\n`, json, this.stopping);
    } catch (e) {
      const err = toLsmnsError(e);
      logged = { ...logged, exitCode: err.exitCode, code: err.code };
      if (!res.headersSent) {
        // A refused huge body is answered at once and the rest drained (bounded by requestTimeout), not cut
        // off: closing while the client still writes makes it fail on EPIPE before it reads the answer.
        send(res, err.exitCode, json ? `${JSON.stringify(err.toJSON())}\n` : `${err.oneLine()}\n`, json, this.stopping);
      }
    } finally {
      this.o.logger.info({ event: 'request', ...logged, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      if (--this.inFlight === 0 && this.idle) this.idle();
    }
  }

  /**
   * Runs the handler when a slot and the pod's turn come within queueWaitMs, else answers "busy" before any
   * effect; a client that hangs up aborts the signal the handler checks before each effect.
   */
  private async serve(stage: string, state: S, key: string | null, res: ServerResponse, clientGivesUp: number | null): Promise<HookReply> {
    const t0 = Date.now();
    // The client's own deadline, less a margin for the answer to reach it, bounds both waits.
    const end = Math.min(t0 + this.o.callBudgetMs, clientGivesUp === null ? Infinity : clientGivesUp - ANSWER_MARGIN_MS);
    const deadline = Math.min(t0 + this.o.queueWaitMs, end);
    const gone = new AbortController();
    res.once('close', () => { if (!res.writableFinished) gone.abort(); });
    const budget = setTimeout(() => gone.abort(), Math.max(0, end - Date.now()));
    res.once('close', () => clearTimeout(budget));
    const run = async (): Promise<HookReply> => {
      if (gone.signal.aborted || Date.now() >= end) throw new LsmnsError({ code: 'ClientGone', exitCode: ExitCode.ApplyFailed, message: 'the client hung up while its call waited; nothing was done', remedy: 'retry the start' });
      if (!(await this.slots.take(deadline))) throw busy('no free slot', Date.now() - t0);
      try {
        // Read when asked: a call that runs without yielding still sees its deadline pass.
        return await this.o.handler(stage, state, { get aborted() { return gone.signal.aborted || Date.now() >= end; } });
      } finally {
        this.slots.give();
      }
    };
    if (key === null) return run();
    try {
      return await this.lock.acquire(key, run, { timeout: Math.max(1, deadline - Date.now()) });
    } catch (e) {
      if (e instanceof Error && /timed out in queue/.test(e.message)) throw busy(`another call for this pod held it`, Date.now() - t0);
      throw e;
    }
  }

  private readBody(req: IncomingMessage): Promise<string> {
    const max = this.o.maxBodyBytes;
    const tooLarge = () => new LsmnsError({ code: 'BodyTooLarge', exitCode: ExitCode.InvalidInput, message: `request body over ${max} bytes`, remedy: 'send only the OCI state JSON' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      req.resume();
      return Promise.reject(tooLarge());
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) {
          req.removeAllListeners('data');
          req.resume();
          reject(tooLarge());
          return;
        }
        chunks.push(c);
      });
      req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.once('error', reject);
    });
  }
}
