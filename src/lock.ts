// File locks across processes (proper-lockfile), taken synchronously first: an uncontended lock then costs no
// thread-pool round trips (mkdir, stat, rmdir), which add up on every container start when the machine is busy.
// A lock held by another process falls back to proper-lockfile's async lock with its retries.

import lockfile from 'proper-lockfile';

export interface LockOptions {
  /** A lock not refreshed for this long is stale and taken over (a holder that died). */
  stale: number;
  retries: { retries: number; factor: number; minTimeout: number; maxTimeout: number };
}

export async function acquireLock(path: string, o: LockOptions): Promise<() => Promise<void>> {
  try {
    const release = lockfile.lockSync(path, { realpath: false, stale: o.stale });
    return async () => release();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
  }
  return lockfile.lock(path, { realpath: false, stale: o.stale, retries: o.retries });
}
