// Reading what to plan from files: pods (JSON or YAML; Pod, List, multi-doc), an OCI bundle, or an OCI
// state file. This is the I/O in front of the pure planner, for the commands that plan and apply.

import { createReadStream } from 'node:fs';
import { invalidInput, type Problem } from '../errors.js';
import { BoundedReadError, MAX_INPUT_BYTES, readStreamBounded } from '../fsutil.js';
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

/**
 * Reads --pod or --state with a hard byte bound. As a stream: a FIFO (`--pod <(kubectl get pods -o yaml)`) is a
 * fine input, and waiting for its writer happens off the main thread, so SIGTERM still ends the command.
 */
async function readText(file: string, what: string): Promise<string> {
  try {
    return (await readStreamBounded(createReadStream(file), MAX_INPUT_BYTES, file)).toString('utf8');
  } catch (e) {
    const why = e instanceof BoundedReadError ? e.message.slice(file.length + 1) : (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw invalidInput('InvalidInput', `cannot read ${what} ${file}: ${why}`, `check the path given to --${what}`);
  }
}

export async function loadInputs(src: InputSource, opts: RequestOptions): Promise<LoadedInput[]> {
  const given = [src.pod, src.bundle, src.state].filter((x) => x !== undefined).length;
  if (given !== 1) throw invalidInput('InvalidInput', given === 0 ? 'nothing to plan' : 'give only one of --pod, --bundle and --state', 'use --pod FILE|-, --bundle DIR or --state FILE');
  if (src.pod !== undefined) {
    const ref = src.pod === '-' ? 'stdin' : src.pod;
    const text = src.pod === '-' ? await src.readStdin() : await readText(src.pod, 'pod');
    return podsFromDocuments(await parseDocuments(text, ref), ref).map((d) =>
      d.pod ? { kind: 'request', request: requestFromPod(d.pod, d.ref, opts) } : { kind: 'unreadable', ref: d.ref, problems: d.problems },
    );
  }
  if (src.bundle !== undefined) {
    const { path, config } = readBundleConfig(src.bundle.startsWith('/') ? src.bundle : `${process.cwd()}/${src.bundle}`);
    return [{ kind: 'request', request: requestFromBundle(config, { kind: 'bundle', ref: path }, null, opts) }];
  }
  const state = parseOciState(src.state === '-' ? await src.readStdin() : await readText(src.state!, 'state'), src.state === '-' ? 'stdin' : src.state!);
  const { config } = readBundleConfig(state.bundle);
  return [{ kind: 'request', request: requestFromBundle(config, { kind: 'state', ref: src.state === '-' ? 'stdin' : src.state! }, state, opts) }];
}
