// Small I/O helpers shared by every front door (oclif commands, the hook, the shim, the agent).

import { LsmnsError, toLsmnsError } from '../errors.js';
import { MAX_INPUT_BYTES, readFdBounded, readStreamBounded } from '../fsutil.js';
import { formatProblem } from '../schema/annotations.js';

/** Reads all of stdin, up to MAX_INPUT_BYTES (stdin may be /dev/zero). */
export async function readStdin(): Promise<string> {
  return (await readStreamBounded(process.stdin, MAX_INPUT_BYTES, 'stdin')).toString('utf8');
}

/** The same, synchronously on fd 0, which works for pipes and files: how runtimes pass state. */
export function readStdinSync(): string {
  return readFdBounded(0, MAX_INPUT_BYTES, 'stdin').toString('utf8');
}

/** The text form of an error for stderr: message, every problem, and the remedy. */
export function errorText(e: LsmnsError): string {
  const lines = [`lsmns: ${e.message}`];
  if (e.problems.length > 1 || (e.problems.length === 1 && !e.message.includes(e.problems[0]!.rule))) {
    for (const p of e.problems) lines.push(`  - ${formatProblem(p)}`);
  }
  lines.push(`  remedy: ${e.remedy}`);
  return `${lines.join('\n')}\n`;
}

/** Reports an error the way SPEC §3 asks: JSON on stdout with --output json, text on stderr otherwise. */
export function reportError(err: unknown, json: boolean): number {
  const e = toLsmnsError(err);
  if (json) process.stdout.write(`${JSON.stringify(e.toJSON())}\n`);
  else process.stderr.write(errorText(e));
  return e.exitCode;
}
