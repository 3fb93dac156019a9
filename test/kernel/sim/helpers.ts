// Test helpers: a fresh simulated kernel in a temporary directory.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import type { BootParams } from '../../../src/kernel/sim/model.js';
import type { PolicySource } from '../../../src/policy/store.js';
import { digestOf } from '../../../src/policy/store.js';
import { LsmnsError } from '../../../src/errors.js';

export function tempDir(prefix = 'lsmns-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function freshSim(boot: Partial<BootParams> = {}, selfPid?: number): SimKernel {
  return new SimKernel({ path: join(tempDir(), 'sim.json'), boot, selfPid });
}

export function policy(text: string, ref = 'test'): PolicySource {
  return { ref, path: `/policies/${ref}.aa`, text, digest: digestOf(text) };
}

export const PROFILE_P = 'profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n  deny /secret r,\n}\n';

/** Resolves to the errno of the LsmnsError the promise rejects with, or "ok". */
export async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof LsmnsError && e.errno) return e.errno;
    throw e;
  }
}

export function fileBytes(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '<missing>';
  }
}
