// Helpers for benchmarks: wall-time samples of commands, medians, and ratio lines.

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs a command n times (after `warm` untimed runs) and returns wall times in ms. */
export function timeCommand(cmd: string, args: string[], n: number, opts: SpawnSyncOptions = {}, warm = 2): number[] {
  const out: number[] = [];
  for (let i = 0; i < n + warm; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], ...opts });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString().slice(0, 300)}`);
    if (i >= warm) out.push(ms);
  }
  return out;
}

/** Interleaves the measured commands so that drift in machine load hits all of them alike. */
export function timeInterleaved(cmds: Record<string, () => number>, n: number, warm = 2): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
  for (let i = 0; i < n + warm; i++) {
    for (const [k, f] of Object.entries(cmds)) {
      const ms = f();
      if (i >= warm) out[k]!.push(ms);
    }
  }
  return out;
}

export function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

export function ratioLine(label: string, value: number, base: number, limit?: number): string {
  const r = value / base;
  const verdict = limit === undefined ? '' : r <= limit ? `  (limit ${limit}x: ok)` : `  (limit ${limit}x: OVER)`;
  return `  ${label.padEnd(52)} ${fmt(value).padStart(10)}  ${r.toFixed(2)}x${verdict}`;
}

/** A timed call: runs f once per sample and returns its wall time in ms. */
export function wall(f: () => void): () => number {
  return () => {
    const t0 = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
}

/** Fails the benchmark when a measured command did not succeed: a failing command times nothing useful. */
export function ok(r: { status: number | null; stderr?: Buffer | string | null }, what: string): void {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${String(r.stderr ?? '').slice(0, 300)}`);
}
