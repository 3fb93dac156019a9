// Test helpers for the node agent: a real `lsmns agent` child process on a temporary socket, requests over it,
// and the thin client run the way a runtime runs a hook.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../commands/cli.js';
import { waitFor } from '../support/wait.js';

export const SH_CLIENT = fileURLToPath(new URL('../../../hooks/lsmns-hook-client', import.meta.url));
export const NATIVE_CLIENT = fileURLToPath(new URL('../../native/lsmns-hook-client', import.meta.url));

/** The two thin clients (sh + socat, and the static one `make build` compiles): they must answer alike. */
export const CLIENTS = [
  { name: 'sh + socat', cmd: 'sh', args: [SH_CLIENT] },
  { name: 'native', cmd: NATIVE_CLIENT, args: [] as string[] },
] as const;
export type ThinClient = (typeof CLIENTS)[number];

export const ANN = { 'lsmns.io/apparmor-namespace': 'tenant-a', 'lsmns.io/apparmor-profile': 'web', 'lsmns.io/apparmor-policy': 'web', 'io.kubernetes.cri.sandbox-namespace': 'team-a', 'io.kubernetes.cri.sandbox-uid': 'u-1' };

export interface RunningAgent {
  proc: ChildProcess;
  socket: string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills the agents a failed test left running (by their pid, never by name). */
export function killLeftoverAgents(): void {
  for (const p of running) p.kill('SIGKILL');
}

/** Starts `lsmns agent` (or the given argv through sh, for socket activation) and waits until it answers. */
export async function startAgent(e: { dir: string; env: NodeJS.ProcessEnv }, socket = join(e.dir, 'run', 'agent.sock'), extra: string[] = [], spawnArgs?: { cmd: string; args: string[] }): Promise<RunningAgent> {
  const env = { ...e.env, LSMNS_SOCKET: socket };
  const proc = spawnArgs
    ? spawn(spawnArgs.cmd, spawnArgs.args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [BIN, 'agent', ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  proc.stdout!.resume();
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  running.add(proc);
  void exited.then(() => running.delete(proc));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(async () => {
    if (gone) throw new Error(`agent exited early: ${err}`);
    return existsSync(socket) && (await get(socket, '/healthz').then((r) => r.status === 200, () => false));
  }, `the agent on ${socket}`, { timeoutMs: 20_000 });
  return { proc, socket, stderr: () => err, exited, stop: async () => { proc.kill('SIGTERM'); return exited; } };
}

export interface Reply { status: number; exit: string | undefined; body: string }

export function call(socket: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, exit: res.headers['x-lsmns-exit-code'] as string | undefined, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A raw HTTP/1.1 request for bodies the agent refuses part-way. It answers and closes while a client is still
 * writing, and node destroys a socket on EPIPE before reading what arrived, so this writes chunk by chunk and
 * stops as soon as the answer is in. With a declared length the agent refuses before any body byte is read,
 * so none is sent. Resolves with status and body.
 */
export function rawPost(socket: string, path: string, body: Buffer, chunked = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let got = '';
    let settled = false;
    const answer = (): { status: number; body: string } | null => {
      const at = got.indexOf('\r\n\r\n');
      if (at < 0) return null;
      const head = got.slice(0, at);
      const body = got.slice(at + 4);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      return status && length && Buffer.byteLength(body) >= Number(length[1]) ? { status: Number(status[1]), body } : null;
    };
    s.on('data', (c) => {
      got += c;
      const a = answer();
      if (a && !settled) {
        settled = true;
        s.destroy();
        resolve(a);
      }
    });
    s.on('error', () => { /* EPIPE or a reset after the answer; what it answered is in got */ });
    s.on('close', () => {
      if (!settled) reject(new Error(`no HTTP answer: ${JSON.stringify(got.slice(0, 200))}`));
    });
    const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`;
    s.write(`POST ${path} HTTP/1.1\r\nHost: lsmns\r\nContent-Type: application/json\r\n${length}\r\n\r\n`);
    if (!chunked) return;
    let at = 0;
    const next = (): void => {
      if (got || s.destroyed) return;
      if (at >= body.length) return void s.write('0\r\n\r\n');
      const c = body.subarray(at, (at += 65536));
      s.write(`${c.length.toString(16)}\r\n`);
      s.write(c);
      s.write('\r\n', () => setTimeout(next, 1));
    };
    next();
  });
}

export const get = (socket: string, path: string) => call(socket, 'GET', path);
export const post = (socket: string, path: string, body: string | Buffer) => call(socket, 'POST', path, body);

/** The thin client as a runtime runs it: stage as argument, the state on stdin. */
export function client(socket: string, stage: string, input: string, env: NodeJS.ProcessEnv = process.env, which: ThinClient = CLIENTS[1]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(which.cmd, [...which.args, stage], { env: { ...env, LSMNS_SOCKET: socket } }, (err, _out, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? -1 : 0, stderr }));
    c.stdin!.end(input);
  });
}
