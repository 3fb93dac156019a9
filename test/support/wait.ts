// Polling for a condition without blocking the event loop: agents, servers and informers under test may run
// in this very process, and a busy-wait would starve them.

import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Time between two checks (default 20 ms). */
  intervalMs?: number;
}

/**
 * Resolves once cond() is true; rejects naming `what` when the time is up. An exception thrown by cond (an agent
 * that exited early, say) rejects at once with that exception.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, o: WaitOptions = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(o.intervalMs ?? 20);
  }
}
