// Node facts on the Node object (SPEC §3): labels for scheduling (RuntimeClass lsmns selects on
// lsmns.io/runtime-handler) and one annotation with the probed facts for people and tools.

import { existsSync } from 'node:fs';
import { FORMAT_VERSION } from '../../format.js';
import type { KubeApi } from '../../kube/client.js';
import type { NodeFacts } from '../../kernel/facts.js';

export interface NodeFactsOptions {
  api: KubeApi;
  nodeName: string;
  facts: NodeFacts;
  /** The paths whose presence says the hook client and the shim front are installed. */
  installed?: { hook: string; shim: string };
  /** Whether a runtime handler `lsmns` is configured. */
  handlerConfigured?: () => boolean;
}

export async function publishNodeFacts(o: NodeFactsOptions): Promise<void> {
  const f = o.facts;
  const hook = o.installed ? existsSync(o.installed.hook) : false;
  const shim = o.installed ? existsSync(o.installed.shim) : false;
  const handler = shim && (o.handlerConfigured?.() ?? false);
  const b = (x: boolean) => (x ? 'true' : 'false');
  const labels = {
    'lsmns.io/apparmor': b(f.lsms.includes('apparmor') && f.apparmor.enabled),
    'lsmns.io/policy-namespaces': b(f.apparmor.policyNamespaces),
    'lsmns.io/stacking': b(f.apparmor.stacking),
    'lsmns.io/hook-installed': b(hook),
    'lsmns.io/shim-installed': b(shim),
    'lsmns.io/runtime-handler': b(handler),
  };
  const facts = { formatVersion: FORMAT_VERSION, kernel: f.kernel.release, lsms: f.lsms, apparmor: f.apparmor, attr: f.attr, syscalls: f.syscalls, hook, shim, runtimeHandler: handler };
  await o.api.patch(`/api/v1/nodes/${encodeURIComponent(o.nodeName)}`, { metadata: { labels, annotations: { 'lsmns.io/node-facts': JSON.stringify(facts) } } }, 'merge');
}
