// Small I/O helpers shared by every front door (oclif commands, the hook, the shim, the agent).

import { readFileSync } from 'node:fs';
import { LsmnsError, toLsmnsError } from '../errors.js';
import { formatProblem } from '../schema/annotations.js';

/** Reads all of stdin. Synchronous on fd 0 works for pipes and files, which is how runtimes pass state. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function readStdinSync(): string {
  return readFileSync(0, 'utf8');
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
