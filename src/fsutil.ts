// The one atomic file write: a temporary file next to the target, renamed over it, so that readers (other
// hooks, the runtime, containerd) see the old or the new file whole. Hand-written on purpose: it runs on the
// hook path, where write-file-atomic's fsync and signal handlers would cost more than these lines.

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

let seq = 0;

export interface AtomicWriteOptions {
  /** The file's mode (default 0600). */
  mode?: number;
  /** Create the parent directory with this mode first. */
  dirMode?: number;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): void {
  if (o.dirMode !== undefined) mkdirSync(dirname(path), { recursive: true, mode: o.dirMode });
  // pid and a counter: unique across processes, and across concurrent writes of one agent process.
  const tmp = `${path}.lsmns-${process.pid}-${seq++}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: o.mode ?? 0o600 });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
