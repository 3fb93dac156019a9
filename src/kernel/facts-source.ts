// Where a command's node facts come from (SPEC §3): --node-facts FILE, simulated flags (--lsm, --kernel),
// or a probe of the backend (the default, which for the sim reads its state without changing it).

import { BoundedReadError, readFileBounded } from '../fsutil.js';
import * as v from 'valibot';
import { invalidInput } from '../errors.js';
import { FACTS_FORMAT_VERSION, simulatedFacts, type DisplayInterface, type NodeFacts } from './facts.js';
import { openKernel, type KernelOptions } from './factory.js';
import { DEFAULT_SIM_KERNEL, DEFAULT_SIM_LSM } from './facts.js';

const FactsSchema = v.object({
  // Files that earlier versions wrote say 1; they are read as the current version.
  formatVersion: v.pipe(v.union([v.literal(FACTS_FORMAT_VERSION), v.literal(1)]), v.transform(() => FACTS_FORMAT_VERSION)),
  source: v.picklist(['simulated', 'probe', 'file']),
  kernel: v.object({ release: v.string() }),
  lsms: v.array(v.string()),
  securityfs: v.object({ mounted: v.boolean() }),
  apparmor: v.object({
    enabled: v.boolean(), policyNamespaces: v.boolean(), stacking: v.boolean(), domainVersion: v.nullable(v.string()),
    nsLevel: v.pipe(v.number(), v.integer(), v.minValue(0)), nsName: v.string(), nsStacked: v.boolean(), policyAdmin: v.boolean(),
  }),
  attr: v.object({ apparmorDir: v.boolean(), display: v.nullable(v.picklist(['display', 'interface_lsm'])), sharedLsm: v.nullable(v.string()) }),
  syscalls: v.object({ lsmSelfAttr: v.boolean() }),
});

export function readFactsFile(path: string): NodeFacts {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileBounded(path, { maxBytes: 1024 * 1024 }).toString('utf8'));
  } catch (e) {
    throw invalidInput('InvalidNodeFacts', `--node-facts ${path}: ${e instanceof BoundedReadError ? e.message : (e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'give a JSON file written by lsmns probe --output json');
  }
  const r = v.safeParse(FactsSchema, doc);
  if (!r.success) {
    throw invalidInput('InvalidNodeFacts', `--node-facts ${path}: ${r.issues.map((i) => `${v.getDotPath(i) ?? '(document)'}: ${i.message}`).join('; ')}`, 'give a JSON file written by lsmns probe --output json');
  }
  return { ...r.output, source: 'file' };
}

export interface FactsFlags {
  nodeFacts?: string;
  lsm?: string;
  kernel?: string;
  attrDisplay?: DisplayInterface;
}

export async function resolveFacts(f: FactsFlags, kernel: KernelOptions): Promise<NodeFacts> {
  if (f.nodeFacts && (f.lsm || f.kernel)) throw invalidInput('InvalidInput', 'give either --node-facts or --lsm/--kernel, not both', 'drop one of them');
  if (f.nodeFacts) return readFactsFile(f.nodeFacts);
  if (f.lsm || f.kernel || f.attrDisplay) return simulatedFacts({ lsm: f.lsm ?? DEFAULT_SIM_LSM, kernel: f.kernel ?? DEFAULT_SIM_KERNEL, display: f.attrDisplay ?? null });
  return (await openKernel(kernel)).probe();
}
