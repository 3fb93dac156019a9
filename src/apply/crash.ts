// Crash points for the tests (issue 16): between any two effects the process can be SIGKILLed, at a named point,
// when LSMNS_TEST_CRASH_AT names it (optionally "POINT@N": at its Nth passage in this process). Only tests set
// the variable; it is read when a point is passed, never at module load.

const passed = new Map<string, number>();

/** The executor's journal points (the hook's and the agent's effects on namespaces and markers). */
export const JOURNAL_CRASH_POINTS = [
  'marker-creating', 'mkdir', 'marker-ready', 'refs', 'policy-load', 'policy-marker', 'marker-removing', 'rmdir', 'marker-deleted',
] as const;
/**
 * The runtime shim's points on create: after the runtime port recorded its intent (the sim's), after the new
 * config.json was written to its temporary file, after it replaced config.json, after the runtime was started
 * (it runs on, orphaned), and after the runtime exited (before a refused create's records are dropped).
 */
export const SHIM_CRASH_POINTS = ['shim-intent', 'shim-config-tmp', 'shim-config', 'shim-runtime-started', 'shim-runtime-exited'] as const;
export const CRASH_POINTS = [...JOURNAL_CRASH_POINTS, ...SHIM_CRASH_POINTS] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(name: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  const want = env.LSMNS_TEST_CRASH_AT;
  if (!want) return;
  const [point, nth] = want.split('@');
  if (point !== name) return;
  const n = (passed.get(name) ?? 0) + 1;
  passed.set(name, n);
  if (nth === undefined || Number(nth) === n) process.kill(process.pid, 'SIGKILL');
}
