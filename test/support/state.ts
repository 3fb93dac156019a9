// What lsmns could change on a node under test, as one comparable string: the simulated kernel's state file,
// byte for byte, and every file and directory under the state dir (hook.log excepted: it only grows).

import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function nodeSnapshot(at: { sim: string; stateDir: string }): string {
  const files = (d: string): string[] => (existsSync(d)
    ? readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f !== 'hook.log').sort().map((f) => `${f}:${lstatSync(join(d, f)).isFile() ? readFileSync(join(d, f), 'latin1') : 'dir'}`)
    : ['(no state dir)']);
  return JSON.stringify([existsSync(at.sim) ? readFileSync(at.sim, 'latin1') : '(no sim file)', files(at.stateDir)]);
}
