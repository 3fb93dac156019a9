// Reading what to plan from files: pods (JSON or YAML; Pod, List, multi-doc), an OCI bundle, or an OCI
// state file. This is the I/O in front of the pure planner, for the commands that plan and apply.

import { readFileSync } from 'node:fs';
import { invalidInput, type Problem } from '../errors.js';
import { requestFromBundle } from '../oci/request.js';
import { parseOciState, readBundleConfig } from '../oci/spec.js';
import { parseDocuments, podsFromDocuments } from '../schema/pod.js';
import { requestFromPod, type PlanRequest, type RequestOptions } from '../plan/request.js';

export type LoadedInput = { kind: 'request'; request: PlanRequest } | { kind: 'unreadable'; ref: string; problems: Problem[] };

export interface InputSource {
  pod?: string;
  bundle?: string;
  state?: string;
  readStdin: () => Promise<string>;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw invalidInput('InvalidInput', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `check the path given to --${what}`);
  }
}

export async function loadInputs(src: InputSource, opts: RequestOptions): Promise<LoadedInput[]> {
  const given = [src.pod, src.bundle, src.state].filter((x) => x !== undefined).length;
  if (given !== 1) throw invalidInput('InvalidInput', given === 0 ? 'nothing to plan' : 'give only one of --pod, --bundle and --state', 'use --pod FILE|-, --bundle DIR or --state FILE');
  if (src.pod !== undefined) {
    const ref = src.pod === '-' ? 'stdin' : src.pod;
    const text = src.pod === '-' ? await src.readStdin() : readText(src.pod, 'pod');
    return podsFromDocuments(await parseDocuments(text, ref), ref).map((d) =>
      d.pod ? { kind: 'request', request: requestFromPod(d.pod, d.ref, opts) } : { kind: 'unreadable', ref: d.ref, problems: d.problems },
    );
  }
  if (src.bundle !== undefined) {
    const { path, config } = readBundleConfig(src.bundle.startsWith('/') ? src.bundle : `${process.cwd()}/${src.bundle}`);
    return [{ kind: 'request', request: requestFromBundle(config, { kind: 'bundle', ref: path }, null, opts) }];
  }
  const state = parseOciState(src.state === '-' ? await src.readStdin() : readText(src.state!, 'state'), src.state === '-' ? 'stdin' : src.state!);
  const { config } = readBundleConfig(state.bundle);
  return [{ kind: 'request', request: requestFromBundle(config, { kind: 'state', ref: src.state === '-' ? 'stdin' : src.state! }, state, opts) }];
}
