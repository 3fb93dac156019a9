// Reading pods: a Pod, a List/PodList, or a multi-document YAML stream, as JSON or YAML.
// Only the fields lsmns reads are checked (with valibot); everything else in a pod is ignored.

import * as v from 'valibot';
import { invalidInput, type Problem } from '../errors.js';
import { escapeValue } from './names.js';

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

/** Parses JSON or YAML (multi-document) into plain documents. YAML is imported only when needed: it is heavy. */
export async function parseDocuments(text: string, source: string): Promise<unknown[]> {
  if (looksLikeJson(text)) {
    try {
      return [JSON.parse(text)];
    } catch (e) {
      throw invalidInput('InvalidPod', `${source}: not valid JSON: ${(e as Error).message}`, 'give a Pod, a List of pods, or multi-document YAML');
    }
  }
  const YAML = await import('yaml');
  const docs = YAML.parseAllDocuments(text);
  const out: unknown[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) {
      throw invalidInput('InvalidPod', `${source}: not valid YAML: ${d.errors[0]!.message}`, 'give a Pod, a List of pods, or multi-document YAML');
    }
    const js = d.toJS();
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
