// OCI bundles and states as a runtime hands them to lsmns: a directory with config.json, and the state JSON
// on a hook's stdin.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes <dir>/<name>/config.json with the given annotations and returns the bundle's absolute path. */
export function bundle(at: { dir: string }, annotations: Record<string, string>, name = `bundle-${Math.random().toString(36).slice(2)}`): string {
  const b = join(at.dir, name);
  mkdirSync(b, { recursive: true });
  writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, annotations }));
  return b;
}

/** The OCI state a runtime sends at createRuntime (pid set) for the container `id` of bundle `b`. */
export function ociState(b: string, id: string, annotations?: Record<string, string>): string {
  return JSON.stringify({ ociVersion: '1.0.2', id, status: 'creating', pid: 42, bundle: b, ...(annotations ? { annotations } : {}) });
}
