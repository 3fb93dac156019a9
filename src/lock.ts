// File locks across processes, with the holder's identity (issue 16). The lock is the file `<path>.lock`,
// made whole in one step (a temporary file with the holder's pid, start time and pid namespace, hard-linked
// into place: EEXIST when held). A holder that has died (its pid free, or another process's) loses the lock at
// once, so a SIGKILLed hook costs the next call nothing; a holder this process cannot judge (another pid
// namespace, an old proper-lockfile directory, an unreadable file) loses it after `stale` ms, or at once when
// the lock's mtime is in the future. Every wait is bounded by `waitMs`, well inside the hooks' timeouts.

import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { holderAlive, ownHolder, ownPidNamespace, type Holder } from './liveness.js';

export interface LockOptions {
  /** A lock whose holder cannot be judged is taken over once it is this old (ms). */
  stale: number;
  /** How long to wait for a live holder before giving up (ms). */
  waitMs: number;
}

/** The lock was not free within waitMs: who holds it, for the message. */
export class LockTimeout extends Error {
  constructor(readonly lockFile: string, readonly holder: Holder | null, waitMs: number) {
    super(`${lockFile} is held${holder ? ` by pid ${holder.pid}` : ''} and was not released within ${waitMs} ms`);
  }
}

let seq = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readHolder(file: string): { text: string; holder: Holder | null } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return { text: `<${code}>`, holder: null };
  }
  try {
    const h = JSON.parse(text) as Holder;
    return { text, holder: Number.isSafeInteger(h?.pid) && typeof h.start === 'string' ? h : null };
  } catch {
    return { text, holder: null };
  }
}

/** Whether the lock in `file` may be taken from its holder now. */
function takeable(file: string, holder: Holder | null, staleMs: number, now: number): boolean {
  if (holder) {
    if (holder.pidns === ownPidNamespace()) return !holderAlive(holder);
  }
  let mtime: number;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    return false;
  }
  return mtime < now - staleMs || mtime > now + 5_000;
}

/**
 * Takes a dead holder's lock: the lock file is renamed to a name only this process uses, so that of several
 * takers one wins; if what it took is not what it judged (a new holder came in between), it is put back.
 */
function takeOver(file: string, judged: string): void {
  const aside = `${file}.stale-${process.pid}-${seq++}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  const now = readHolder(aside);
  if (now && now.text !== judged) {
    try {
      linkSync(aside, file);
    } catch { /* a third holder came in: the one we moved lost its file, as its lock had lost its holder */ }
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Whether a lock file was left by a holder that is gone (GC sweeps such files; a live or unjudgeable one stays). */
export function lockLeftByDead(file: string, staleMs = 10_000): boolean {
  const held = readHolder(file);
  return held !== null && takeable(file, held.holder, staleMs, Date.now());
}

export async function acquireLock(path: string, o: LockOptions): Promise<() => Promise<void>> {
  const file = `${path}.lock`;
  const text = JSON.stringify(ownHolder());
  const tmp = `${file}.${process.pid}-${seq++}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  const deadline = Date.now() + o.waitMs;
  let pause = 2;
  let last: Holder | null = null;
  try {
    for (;;) {
      try {
        linkSync(tmp, file);
        const token = statSync(file).ino;
        return async () => {
          // Only our own lock file goes (a taker may have replaced it if we were judged dead).
          try {
            if (statSync(file).ino === token) rmSync(file, { recursive: true, force: true });
          } catch { /* gone already */ }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = readHolder(file);
      if (!held) continue;
      last = held.holder;
      if (takeable(file, held.holder, o.stale, Date.now())) {
        takeOver(file, held.text);
        continue;
      }
      if (Date.now() >= deadline) throw new LockTimeout(file, last, o.waitMs);
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
      pause = Math.min(pause * 2, 100);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}
