// Reading pods: a Pod, a List/PodList, or a multi-document YAML stream, as JSON or YAML.
// Only the fields lsmns reads are checked (with valibot); everything else in a pod is ignored.

import * as v from 'valibot';
import { invalidInput, type Problem } from '../errors.js';
import { MAX_DEPTH, nestsDeeperThan } from './depth.js';
import { escapeValue } from './names.js';

/**
 * Bounds on a pod file. JSON parses fast, so a whole cluster's `kubectl get pods -A -o json` fits; YAML costs
 * about a hundred times the text in memory and time (5 MiB took 17 s and 480 MiB here), so YAML is kept to
 * hand-written sizes, and a stream to a number of documents no one writes by hand.
 */
export const MAX_POD_JSON_BYTES = 64 * 1024 * 1024;
export const MAX_POD_YAML_BYTES = 2 * 1024 * 1024;
export const MAX_YAML_DOCUMENTS = 1000;
/** Aliases one YAML document may expand (the yaml package's own default): a "billion laughs" stops here. */
export const MAX_YAML_ALIASES = 100;

const AppArmorProfile = v.looseObject({
  type: v.picklist(['RuntimeDefault', 'Unconfined', 'Localhost']),
  localhostProfile: v.optional(v.string()),
});
const SecurityContext = v.nullish(v.looseObject({ appArmorProfile: v.nullish(AppArmorProfile) }));
const Container = v.looseObject({ name: v.string(), securityContext: SecurityContext });

export const PodSchema = v.looseObject({
  kind: v.optional(v.literal('Pod')),
  metadata: v.looseObject({
    name: v.optional(v.string()),
    namespace: v.optional(v.string()),
    uid: v.optional(v.string()),
    annotations: v.nullish(v.record(v.string(), v.string())),
  }),
  spec: v.looseObject({
    containers: v.array(Container),
    initContainers: v.nullish(v.array(Container)),
    securityContext: SecurityContext,
  }),
});
export type Pod = v.InferOutput<typeof PodSchema>;

export interface PodDoc {
  /** Where the pod came from, for messages: "file.yaml#2/items/3". */
  ref: string;
  pod: Pod | null;
  problems: Problem[];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function looksLikeJson(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('{') || t.startsWith('[');
}

const POD_REMEDY = 'give a Pod, a List of pods, or multi-document YAML';

/** Parses JSON or YAML (multi-document) into plain documents. YAML is imported only when needed: it is heavy. */
export async function parseDocuments(text: string, source: string): Promise<unknown[]> {
  const bad = (why: string, remedy = POD_REMEDY) => invalidInput('InvalidPod', `${source}: ${why}`, remedy);
  const tooDeep = () => bad(`nested deeper than ${MAX_DEPTH} levels`);
  if (looksLikeJson(text)) {
    if (text.length > MAX_POD_JSON_BYTES) throw bad(`over ${MAX_POD_JSON_BYTES} bytes of JSON`, 'plan fewer pods at a time');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw bad(`not valid JSON: ${(e as Error).message}`);
    }
    if (nestsDeeperThan(doc)) throw tooDeep();
    return [doc];
  }
  if (text.length > MAX_POD_YAML_BYTES) throw bad(`over ${MAX_POD_YAML_BYTES} bytes of YAML`, 'give larger inputs as JSON (kubectl get -o json), or plan fewer pods at a time');
  const YAML = await import('yaml');
  const out: unknown[] = [];
  let n = 0;
  // Document by document, so that a stream of a million documents stops at the bound, not after parsing all.
  for (const d of new YAML.Composer().compose(new YAML.Parser().parse(text))) {
    if (++n > MAX_YAML_DOCUMENTS) throw bad(`more than ${MAX_YAML_DOCUMENTS} YAML documents`, 'put the pods in a List, give them as JSON, or plan fewer at a time');
    if (d.errors.length > 0) {
      const m = d.errors[0]!.message;
      // yaml reports a flow collection nested past the call stack as this error: say what it means.
      if (m.includes('call stack')) throw tooDeep();
      throw bad(`not valid YAML: ${m}`);
    }
    let js: unknown;
    try {
      js = d.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (e) {
      if (e instanceof ReferenceError) throw bad(`YAML aliases expand too far (${e.message}; at most ${MAX_YAML_ALIASES} per document)`, 'write the pod out without aliases, or give it as JSON');
      if (e instanceof RangeError) throw tooDeep();
      throw e;
    }
    if (nestsDeeperThan(js)) throw tooDeep();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

/** Flattens documents into pods: Pod, List, PodList; anything else is a problem, reported per item. */
export function podsFromDocuments(docs: unknown[], source: string): PodDoc[] {
  const out: PodDoc[] = [];
  docs.forEach((doc, i) => {
    const base = docs.length > 1 ? `${source}#${i + 1}` : source;
    if (isObject(doc) && (doc.kind === 'List' || doc.kind === 'PodList') && Array.isArray(doc.items)) {
      doc.items.forEach((item, j) => out.push(checkPod(item, `${base}/items/${j}`)));
    } else if (Array.isArray(doc)) {
      doc.forEach((item, j) => out.push(checkPod(item, `${base}[${j}]`)));
    } else {
      out.push(checkPod(doc, base));
    }
  });
  return out;
}

export function checkPod(doc: unknown, ref: string): PodDoc {
  if (isObject(doc) && doc.kind !== undefined && doc.kind !== 'Pod') {
    return { ref, pod: null, problems: [{ key: `${ref}: kind`, value: escapeValue(String(doc.kind)), rule: 'only Pod objects (or a List of them) can be planned', example: 'kind: Pod' }] };
  }
  const r = v.safeParse(PodSchema, doc);
  if (r.success) return { ref, pod: r.output, problems: [] };
  return {
    ref,
    pod: null,
    problems: r.issues.map((issue) => ({
      key: `${ref}: ${v.getDotPath(issue) ?? '(document)'}`,
      value: issue.input === undefined ? '(absent)' : escapeValue(typeof issue.input === 'string' ? issue.input : JSON.stringify(issue.input) ?? String(issue.input)),
      rule: issue.message,
      example: 'a Pod with metadata and spec.containers[].name',
    })),
  };
}
