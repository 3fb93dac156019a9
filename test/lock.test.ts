import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownPidNamespace, procStartTime } from '../src/liveness.js';
import { LockTimeout, acquireLock } from '../src/lock.js';
import { tempDir } from './kernel/sim/helpers.js';

const OPTS = { stale: 10_000, waitMs: 1_500 };

async function exitedPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await p;
  return [v, Date.now() - t0];
}

describe('lock', () => {
  it('a dead holder\'s lock (its pid exited) is taken at once', async () => {
    const path = join(tempDir('lsmns-lock-'), 'x');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: await exitedPid(), start: '1', pidns: ownPidNamespace() }));
    const [release, ms] = await timed(acquireLock(path, OPTS));
    assert.ok(ms < 500, `${ms} ms`);
    await release();
    assert.equal(existsSync(`${path}.lock`), false);
  });

  it('a reused pid (same pid, another start time) is a dead holder too', async () => {
    const path = join(tempDir('lsmns-lock-'), 'x');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.pid, start: '1', pidns: ownPidNamespace() }));
    const [release, ms] = await timed(acquireLock(path, OPTS));
    assert.ok(ms < 500, `${ms} ms`);
    await release();
  });

  it('a live holder is waited for, at most waitMs, and the timeout names it', async () => {
    const path = join(tempDir('lsmns-lock-'), 'x');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.pid, start: procStartTime(process.pid), pidns: ownPidNamespace() }));
    const t0 = Date.now();
    await assert.rejects(acquireLock(path, OPTS), (e: unknown) => e instanceof LockTimeout && e.holder?.pid === process.pid && /held by pid \d+ and was not released within 1500 ms/.test(e.message));
    const ms = Date.now() - t0;
    assert.ok(ms >= 1_400 && ms < 2_500, `${ms} ms`);
  });

  it('a lock directory (an old lsmns\'s) with an mtime in the future is taken at once; a fresh one is waited for', async () => {
    const dir = tempDir('lsmns-lock-');
    const path = join(dir, 'x');
    mkdirSync(`${path}.lock`);
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(`${path}.lock`, future, future);
    const [release, ms] = await timed(acquireLock(path, OPTS));
    assert.ok(ms < 500, `${ms} ms`);
    await release();
    mkdirSync(`${path}.lock`);
    await assert.rejects(acquireLock(path, OPTS), LockTimeout);
  });

  it('a holder in another pid namespace cannot be judged: only its age frees it', async () => {
    const path = join(tempDir('lsmns-lock-'), 'x');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 1, start: '1', pidns: 'pid:[1]' }));
    await assert.rejects(acquireLock(path, { stale: 10_000, waitMs: 300 }), LockTimeout);
    const old = new Date(Date.now() - 20_000);
    utimesSync(`${path}.lock`, old, old);
    await (await acquireLock(path, { stale: 10_000, waitMs: 300 }))();
  });

  it('excludes: 50 concurrent holders never overlap, and a release removes only its own lock', async () => {
    const path = join(tempDir('lsmns-lock-'), 'x');
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      const release = await acquireLock(path, { stale: 10_000, waitMs: 10_000 });
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 1));
      inside--;
      await release();
    }));
    assert.equal(most, 1);
    assert.equal(existsSync(`${path}.lock`), false);
  });
});
