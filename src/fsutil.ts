// Files in and out. The one atomic file write: a temporary file next to the target, renamed over it, so that
// readers (other hooks, the runtime, containerd) see the old or the new file whole. Hand-written on purpose: it
// runs on the hook path, where write-file-atomic's fsync and signal handlers would cost more than these lines.
// And the one bounded read, for every input a user or a runtime names: a file is never trusted to end.

import { closeSync, constants, fstatSync, mkdirSync, openSync, readlinkSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ExitCode, LsmnsError } from './errors.js';

let seq = 0;

export interface AtomicWriteOptions {
  /** The file's mode (default 0600). */
  mode?: number;
  /** Create the parent directory with this mode first. */
  dirMode?: number;
  /** Called with the temporary file written and not yet renamed (a test's crash point). */
  beforeRename?: () => void;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): void {
  if (o.dirMode !== undefined) makeDirs(dirname(path), o.dirMode);
  // pid and a counter: unique across processes, and across concurrent writes of one agent process (atomicTempWriter reads it back).
  const tmp = `${path}.lsmns-${process.pid}-${seq++}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: o.mode ?? 0o600 });
    o.beforeRename?.();
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * The pid that wrote a temporary file of writeFileAtomic (`<target>.lsmns-<pid>-<n>.tmp`), or null for any other
 * name (or another target's, when `target` is given): what a sweep of a killed writer's leftovers judges by.
 */
export function atomicTempWriter(name: string, target?: string): number | null {
  const m = /^(.*)\.lsmns-(\d+)-\d+\.tmp$/.exec(name);
  return m && (target === undefined || m[1] === target) ? Number(m[2]) : null;
}

/**
 * mkdir -p, one component at a time. Node's recursive mkdirSync loops for ever where mkdir keeps failing with
 * ENOENT (a state dir under /proc), so a hostile --state-dir or --sim-state would hang the hook; here every
 * error comes back as the errno it is (ENOTDIR under a file, EACCES, ENOENT).
 */
export function makeDirs(path: string, mode: number): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Anything a user or a runtime gives on stdin or names as a file is read up to this; parsers bound tighter. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * A bounded read refused a file: invalid input (exit 2) as it stands, and callers that know what the file was
 * meant to be (config.json, a policy) turn it into their own code and remedy, using `reason`.
 */
export class BoundedReadError extends LsmnsError {
  constructor(
    readonly path: string,
    /** ENOENT and the other errnos as they came; TOO_LARGE, NOT_REGULAR and OUTSIDE are this reader's. */
    readonly reason: string,
    message: string,
  ) {
    super({ code: 'InvalidInput', exitCode: ExitCode.InvalidInput, message, remedy: `check ${path}: it must be readable, and hold the input itself, not a device or an endless file` });
  }
}

export interface BoundedReadOptions {
  /** Refuse the file when it holds more than this many bytes, whatever stat says its size is. */
  maxBytes: number;
  /** Only regular files (no FIFO, device or socket): for inputs that are always files, such as config.json. */
  regularOnly?: boolean;
  /** The opened file must resolve inside this directory (symlinks may point within it, never out of it). */
  within?: string;
}

function refuse(path: string, reason: string, what: string): never {
  throw new BoundedReadError(path, reason, `${path} ${what}`);
}

/** The path an open descriptor really names (symlinks resolved by the kernel), or null without /proc. */
function openedPath(fd: number, path: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return realpathSync(path);
  }
}

/**
 * Reads a file with a hard byte bound: stat's size is not trusted (/proc/self/pagemap says 0 and never ends,
 * /dev/zero has no end), so at most maxBytes + 1 bytes are read, and one more than the bound refuses the file.
 * The file is opened O_NONBLOCK, so a FIFO without a writer is refused (regularOnly) instead of hanging the
 * process in open(2), where no signal handler can run. Refusals never quote the file's contents.
 */
export function readFileBounded(path: string, o: BoundedReadOptions): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return refuse(path, code, `cannot be opened (${code})`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) refuse(path, 'EISDIR', 'is a directory');
    if (o.regularOnly && !st.isFile()) refuse(path, 'NOT_REGULAR', 'is not a regular file (a FIFO, device or socket)');
    if (o.within !== undefined) {
      const real = openedPath(fd, path);
      const root = realpathSync(o.within).replace(/\/+$/, '');
      if (!real.startsWith(`${root}/`)) refuse(path, 'OUTSIDE', `resolves outside ${o.within} (a symlink out of it)`);
    }
    return readFdBounded(fd, o.maxBytes, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * One read buffer for every bounded read: the reads are synchronous, so none overlaps another, and a fresh
 * 64 KiB per read (two per file, with the read that finds the end) made most of a served call's garbage.
 */
const scratch = Buffer.allocUnsafe(64 * 1024);

/** Reads an open descriptor (a file, a pipe on stdin) to its end, refusing more than maxBytes. */
export function readFdBounded(fd: number, maxBytes: number, path = `fd ${fd}`): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    // Whole 64 KiB reads (pagemap takes only multiples of 8 bytes), so up to 64 KiB past the bound is read.
    const buf = scratch;
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      // A non-blocking FIFO or pipe with nothing written yet: treat it as empty, never spin or block.
      if (code === 'EAGAIN') break;
      return refuse(path, code, `cannot be read (${code})`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > maxBytes) refuse(path, 'TOO_LARGE', `holds more than ${maxBytes} bytes`);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Reads a stream (stdin, a FIFO given as a pod file) with the same bound, asynchronously, so signals still work. */
export async function readStreamBounded(stream: AsyncIterable<Buffer | string>, maxBytes: number, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    total += b.length;
    if (total > maxBytes) {
      (stream as { destroy?: () => void }).destroy?.();
      refuse(path, 'TOO_LARGE', `holds more than ${maxBytes} bytes`);
    }
    chunks.push(b);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
