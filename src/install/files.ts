// Writes the files `lsmns install` renders and records each one (path and digest) in a manifest in the state
// dir, so that `--uninstall` removes exactly those, and refuses files it did not write or that were changed.

import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { sha256Hex } from '../hash.js';
import { ExitCode, LsmnsError } from '../errors.js';
import { FORMAT_VERSION, formatVersionOf, type FormatVersion } from '../format.js';
import type { InstallFile } from './hooks-d.js';

export const MANIFEST_FORMAT_VERSION = FORMAT_VERSION;

export interface Manifest {
  formatVersion: FormatVersion;
  files: { path: string; sha256: string }[];
}

export interface FileReport {
  path: string;
  action: 'written' | 'unchanged' | 'removed' | 'already-gone';
}

const sha = sha256Hex;

export function manifestPath(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/install-manifest.json`;
}

function readManifest(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { formatVersion: MANIFEST_FORMAT_VERSION, files: [] };
    throw e;
  }
  const m = JSON.parse(text) as Manifest;
  if (formatVersionOf(m.formatVersion) === null || !Array.isArray(m.files)) {
    throw new LsmnsError({ code: 'StateCorrupt', exitCode: ExitCode.InvalidInput, message: `install manifest ${path} has an unknown format`, remedy: 'inspect it; remove the files it lists by hand if needed' });
  }
  return m;
}

function currentDigest(path: string): string | null {
  try {
    return sha(readFileSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Writes every file; a file already there that lsmns did not write (or that was edited since) is refused first. */
export function installFiles(files: InstallFile[], stateDir: string): FileReport[] {
  const mpath = manifestPath(stateDir);
  const m = readManifest(mpath);
  const recorded = new Map(m.files.map((f) => [f.path, f.sha256]));
  // Check all before writing any: a refusal leaves the node as it was.
  for (const f of files) {
    const cur = currentDigest(f.path);
    if (cur !== null && cur !== sha(f.content) && recorded.get(f.path) !== cur) {
      throw new LsmnsError({ code: 'InstallConflict', exitCode: ExitCode.InvalidInput, message: `${f.path} already exists and lsmns did not write it (or it was edited since)`, remedy: 'move it away, or install into another directory (--hooks-dir, --unit-dir)' });
    }
  }
  const report: FileReport[] = [];
  for (const f of files) {
    const same = currentDigest(f.path) === sha(f.content);
    if (!same) writeFileAtomic(f.path, f.content, { mode: f.mode, dirMode: 0o755 });
    recorded.set(f.path, sha(f.content));
    report.push({ path: f.path, action: same ? 'unchanged' : 'written' });
  }
  writeFileAtomic(mpath, `${JSON.stringify({ formatVersion: MANIFEST_FORMAT_VERSION, files: [...recorded].sort().map(([path, sha256]) => ({ path, sha256 })) }, null, 2)}\n`, { mode: 0o600, dirMode: 0o755 });
  return report;
}

/** Removes what the manifest lists; a listed file that was edited since is refused (all checked first). */
export function uninstallFiles(stateDir: string): FileReport[] {
  const mpath = manifestPath(stateDir);
  const m = readManifest(mpath);
  for (const f of m.files) {
    const cur = currentDigest(f.path);
    if (cur !== null && cur !== f.sha256) {
      throw new LsmnsError({ code: 'InstallConflict', exitCode: ExitCode.InvalidInput, message: `${f.path} was changed after lsmns wrote it; lsmns removes only files it wrote`, remedy: `remove it by hand if it is no longer wanted, then run lsmns install --uninstall again` });
    }
  }
  const report: FileReport[] = m.files.map((f) => {
    const gone = currentDigest(f.path) === null;
    rmSync(f.path, { force: true });
    return { path: f.path, action: gone ? 'already-gone' : 'removed' };
  });
  rmSync(mpath, { force: true });
  return report;
}
