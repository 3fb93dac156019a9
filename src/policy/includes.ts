// The include resolver that reads files: what the parser (pure) is given to follow "include <x>" and
// "include "x"". Only regular files and directories are read, each at most LIMITS.fileBytes, so an include of
// /dev/zero, a FIFO or a huge file is a clean error, not a hang.

import { readdirSync, statSync, type Stats } from 'node:fs';
import { readFileBounded } from '../fsutil.js';
import { dirname, isAbsolute, join } from 'node:path';
import { LIMITS, type IncludeResolver } from './parser.js';

/** The default search path when none is given (apparmor_parser's base directory). */
export const DEFAULT_INCLUDE_DIRS = ['/etc/apparmor.d'];

function statOrNull(path: string): Stats | null {
  try { return statSync(path); } catch { return null; }
}

function readBounded(path: string, st: Stats): string {
  if (!st.isFile()) throw new Error(`${path} is not a regular file or a directory`);
  // stat's size is not trusted (/proc/self/pagemap says 0 and never ends): the read itself is bounded.
  return readFileBounded(path, { maxBytes: LIMITS.fileBytes, regularOnly: true }).toString('utf8');
}

/** Reads a policy file given on a command line, with the same bounds as an include. */
export function readPolicyFile(path: string): string {
  const st = statOrNull(path);
  if (!st) throw new Error(`${path} does not exist`);
  return readBounded(path, st);
}

/** Dotfiles and editor or package-manager leftovers are not policy (apparmor_parser skips them too). */
const isPolicyName = (n: string): boolean => !n.startsWith('.') && !/(~|\.dpkg-(new|old|dist|bak)|\.rpm(new|save))$/.test(n);

/** Reads one path: a file, or a directory's files in name order (dotfiles and editor/dpkg leftovers skipped). */
function readPath(path: string): { file: string; text: string }[] | null {
  const st = statOrNull(path);
  if (!st) return null;
  if (!st.isDirectory()) return [{ file: path, text: readBounded(path, st) }];
  const names = readdirSync(path).filter(isPolicyName).sort();
  if (names.length > LIMITS.includedFiles) throw new Error(`${path} has more than ${LIMITS.includedFiles} entries`);
  const out: { file: string; text: string }[] = [];
  for (const n of names) {
    const p = join(path, n);
    const s = statOrNull(p);
    if (s?.isFile()) out.push({ file: p, text: readBounded(p, s) });
  }
  return out;
}

/**
 * A resolver over include directories: <name> is looked up in each directory in order; "name" is taken as is
 * when absolute, else next to the including file, then in the directories.
 */
export function fileIncludeResolver(dirs: string[] = DEFAULT_INCLUDE_DIRS): IncludeResolver {
  return (ref) => {
    const candidates = !ref.angle && isAbsolute(ref.name) ? [ref.name]
      : [...(ref.angle ? [] : [join(dirname(ref.from), ref.name)]), ...dirs.map((d) => join(d, ref.name))];
    for (const c of candidates) {
      const found = readPath(c);
      if (found) return found;
    }
    return null;
  };
}

/**
 * The host profile files of a directory (--host-profile-dir): its regular files, not its subdirectories
 * (abstractions, tunables, local), each bounded like an include. For conflictsForPlan.
 */
export function readProfileDir(dir: string): { file: string; text: string }[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: { file: string; text: string }[] = [];
  for (const n of names.filter(isPolicyName).sort()) {
    const p = join(dir, n);
    const st = statOrNull(p);
    if (st?.isFile() && st.size <= LIMITS.fileBytes) out.push({ file: p, text: readBounded(p, st) });
  }
  return out;
}
