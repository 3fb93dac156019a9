// Readers for the OCI runtime's inputs: the state JSON a hook gets on stdin, and the bundle's config.json.
// Both are checked with valibot and treated as hostile: bad shapes are exit-2 errors that name the field.

import * as v from 'valibot';
import { invalidInput, type ErrorCode, type Problem } from '../errors.js';
import { BoundedReadError, readFileBounded } from '../fsutil.js';
import { MAX_DEPTH, nestsDeeperThan } from '../schema/depth.js';
import { escapeValue } from '../schema/names.js';

/** A runtime's config.json is a few KiB; the OCI state carries its annotations (Kubernetes caps them at 256 KiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
export const MAX_OCI_STATE_BYTES = 1024 * 1024;

const Annotations = v.optional(v.record(v.string(), v.string()));

/** State as runc, crun and podman send it: runc omits pid at poststop, crun sends 0 (KERNEL-FACTS Part A). */
export const OciStateSchema = v.looseObject({
  ociVersion: v.string(),
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
  status: v.string(),
  pid: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  bundle: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  annotations: Annotations,
});
export type OciState = v.InferOutput<typeof OciStateSchema>;

const Hook = v.looseObject({ path: v.string(), args: v.optional(v.array(v.string())), env: v.optional(v.array(v.string())), timeout: v.optional(v.number()) });
export type OciHook = v.InferOutput<typeof Hook>;

export const OciConfigSchema = v.looseObject({
  ociVersion: v.optional(v.string()),
  process: v.optional(v.looseObject({ apparmorProfile: v.optional(v.string()) })),
  annotations: Annotations,
  hooks: v.optional(v.looseObject({
    prestart: v.optional(v.array(Hook)),
    createRuntime: v.optional(v.array(Hook)),
    createContainer: v.optional(v.array(Hook)),
    startContainer: v.optional(v.array(Hook)),
    poststart: v.optional(v.array(Hook)),
    poststop: v.optional(v.array(Hook)),
  })),
});
export type OciConfig = v.InferOutput<typeof OciConfigSchema>;

function problemsOf(issues: v.BaseIssue<unknown>[], where: string): Problem[] {
  return issues.map((i) => ({
    key: `${where}: ${v.getDotPath(i) ?? '(document)'}`,
    value: i.input === undefined ? '(absent)' : escapeValue(typeof i.input === 'string' ? i.input : JSON.stringify(i.input) ?? String(i.input)),
    rule: i.message,
    example: '',
  }));
}

/** JSON, then the schema: either failure is an exit-2 error that names the field, with the caller's remedies. */
function parseJson<S extends v.GenericSchema>(schema: S, text: string, where: string, code: ErrorCode, remedy: { json: string; shape: string }, maxBytes: number): v.InferOutput<S> {
  return checkShape(schema, jsonOf(text, where, code, remedy, maxBytes), where, code, remedy.shape);
}

function jsonOf(text: string, where: string, code: ErrorCode, remedy: { json: string; shape: string }, maxBytes: number): unknown {
  if (text.length > maxBytes) throw invalidInput(code, `${where}: over ${maxBytes} bytes`, remedy.shape);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalidInput(code, `${where}: not valid JSON (${(e as Error).message})`, remedy.json);
  }
}

function checkShape<S extends v.GenericSchema>(schema: S, doc: unknown, where: string, code: ErrorCode, remedy: string): v.InferOutput<S> {
  // Before valibot, messages or JSON.stringify recurse into it: JSON.parse itself takes any depth.
  if (nestsDeeperThan(doc)) throw invalidInput(code, `${where}: nested deeper than ${MAX_DEPTH} levels`, remedy);
  const r = v.safeParse(schema, doc);
  if (!r.success) {
    const p = problemsOf(r.issues, where);
    throw invalidInput(code, `${where}: ${p.map((x) => `${x.key} ${x.rule}`).join('; ')}`, remedy, p);
  }
  return r.output;
}

const STATE_REMEDY = {
  json: 'the runtime must pass the OCI state JSON on stdin; run lsmns hook only from a runtime hook',
  shape: 'the runtime must pass the OCI state JSON (ociVersion, id, status, bundle) on stdin',
};

export function parseOciState(text: string, where = 'OCI state on stdin'): OciState {
  return parseJson(OciStateSchema, text, where, 'InvalidOciState', STATE_REMEDY, MAX_OCI_STATE_BYTES);
}

/**
 * parseOciState in two halves, for a caller that parses the text once and uses the value more than once (the
 * agent: its lock key, the gate, the hook): the JSON step, then the shape of the parsed value. Same errors.
 */
export function parseOciStateJson(text: string, where = 'OCI state on stdin'): unknown {
  return jsonOf(text, where, 'InvalidOciState', STATE_REMEDY, MAX_OCI_STATE_BYTES);
}

export function ociStateOf(doc: unknown, where = 'OCI state on stdin'): OciState {
  return checkShape(OciStateSchema, doc, where, 'InvalidOciState', STATE_REMEDY.shape);
}

export function parseOciConfig(text: string, where: string): OciConfig {
  return parseJson(OciConfigSchema, text, where, 'InvalidBundle', {
    json: 'give a bundle whose config.json is an OCI runtime spec',
    shape: 'fix config.json so that it is an OCI runtime spec',
  }, MAX_CONFIG_BYTES);
}

/** Reads <bundle>/config.json; the bundle path must be absolute (a hook's cwd is not the bundle). */
export function readBundleConfig(bundle: string): { path: string; config: OciConfig; text: string } {
  if (!bundle.startsWith('/') || bundle.includes('\0')) {
    throw invalidInput('InvalidBundle', `bundle path ${escapeValue(bundle)} is not absolute`, 'pass an absolute bundle directory, as runtimes do');
  }
  const path = `${bundle.replace(/\/+$/, '')}/config.json`;
  let text: string;
  try {
    // Bounded whatever stat says, and only a regular file: a FIFO or /proc/self/pagemap must not stall a hook.
    text = readFileBounded(path, { maxBytes: MAX_CONFIG_BYTES, regularOnly: true }).toString('utf8');
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    throw invalidInput('InvalidBundle', `cannot read ${path}: ${e.reason === 'TOO_LARGE' || e.reason === 'NOT_REGULAR' ? e.message : e.reason}`, 'give the directory that holds the container\'s config.json');
  }
  return { path, config: parseOciConfig(text, path), text };
}
