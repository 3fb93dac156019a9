// Policy sync (SPEC §4): the policies that pods on this node reference, from ConfigMaps labelled
// lsmns.io/policy=true, written into the node's policy store. Each file the agent writes gets an ownership
// sidecar `<file>.lsmns-owner`, so that an agent, restarted or not, removes and overwrites only its own files
// and never one an administrator put there or edited since.

import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fsutil.js';
import type { KubeApi } from '../../kube/client.js';
import { Informer, type InformerHooks, type Logger } from '../../kube/informer.js';
import { CLUSTER_SCOPE, policyFileOf } from '../../policy/ref.js';
import { MAX_POLICY_BYTES, digestOf, type PolicySource } from '../../policy/store.js';
import { nameRuleBroken } from '../../schema/names.js';

export const POLICY_LABEL = 'lsmns.io/policy';
export const POLICY_OWNER_SUFFIX = '.lsmns-owner';
export const POLICY_OWNER_FORMAT_VERSION = 1;
const WRITTEN_BY = 'lsmns-agent';

/** The sidecar's content: who wrote the policy file, from where, and what it wrote. */
export interface PolicyOwner {
  formatVersion: typeof POLICY_OWNER_FORMAT_VERSION;
  writtenBy: typeof WRITTEN_BY;
  node: string;
  /** The ConfigMap, as namespace/name@resourceVersion. */
  from: string;
  digest: string;
  /** The digest of the agent's own file this write replaced: the file may still hold it after a crash. */
  previousDigest: string | null;
}

/** What the agent keeps of a policy ConfigMap: which policies it offers, not their text. */
export interface PolicyMap { key: string; namespace: string; name: string; rv: string; policies: string[] }

/** A policy a pod on this node references: where its ConfigMap must live, and its name. */
export interface WantedPolicy { ns: string; name: string; scope: 'pod-namespace' | 'cluster' }

export function policyMapInformer(o: { api: KubeApi; hooks: InformerHooks; logger: Logger; watchdogMs?: number; kick: () => void }): Informer<PolicyMap> {
  return new Informer<PolicyMap>({
    api: o.api, path: '/api/v1/configmaps', resource: 'configmaps', labelSelector: `${POLICY_LABEL}=true`, hooks: o.hooks, logger: o.logger, watchdogMs: o.watchdogMs,
    project: (x) => ({ key: `${x.metadata?.namespace}/${x.metadata?.name}`, namespace: x.metadata?.namespace ?? '', name: x.metadata?.name ?? '', rv: x.metadata?.resourceVersion ?? '', policies: Object.keys((x.data ?? {}) as Record<string, string>).filter((k) => k.endsWith('.aa')).map((k) => k.slice(0, -3)).sort() }),
    keyOf: (c) => c.key, versionOf: (c) => c.rv,
    handlers: { add: o.kick, update: o.kick, delete: o.kick },
  });
}

/**
 * Where a pod's policy reference syncs to: its store-relative name ("team-a/web", "cluster/baseline"; the
 * store's own layout, policyFileOf, without ".aa"), and the namespace whose ConfigMaps may provide it.
 */
export function wantedPolicy(ref: string, scope: WantedPolicy['scope'], podNamespace: string, lsmnsNamespace: string): [string, WantedPolicy] {
  const rel = policyFileOf({ policy: ref, scope, podNamespace }).slice(0, -'.aa'.length);
  const name = scope === 'cluster' ? ref.slice(CLUSTER_SCOPE.length + 1) : ref;
  return [rel, { ns: scope === 'cluster' ? lsmnsNamespace : podNamespace, name, scope }];
}

function readOwner(file: string): PolicyOwner | null {
  try {
    const o = JSON.parse(readFileSync(`${file}${POLICY_OWNER_SUFFIX}`, 'utf8')) as Partial<PolicyOwner>;
    return o.formatVersion === POLICY_OWNER_FORMAT_VERSION && o.writtenBy === WRITTEN_BY && typeof o.digest === 'string' ? o as PolicyOwner : null;
  } catch {
    return null;
  }
}

/** The file's digest, or null when there is no file. */
function digestOfFile(file: string): string | null {
  try {
    return digestOf(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Whether the file is the agent's own: a sidecar names it, and the file is what the agent wrote (or gone). A file
 * without a sidecar is an administrator's; one edited since the agent wrote it has become an administrator's.
 */
function owned(file: string, owner: PolicyOwner | null): boolean {
  if (!owner) return false;
  const d = digestOfFile(file);
  return d === null || d === owner.digest || d === owner.previousDigest;
}

export interface PolicySyncOptions {
  api: KubeApi;
  policyDir: string;
  nodeName: string;
  logger: Logger;
  configMaps: Informer<PolicyMap>;
  /** Compiles a synced policy ahead of the container start (the securityfs backend's cache), so that the hook only loads. */
  precompile?: (policy: PolicySource) => Promise<void>;
}

export class PolicySync {
  /** Policies (store-relative) whose file the agent left alone as an administrator's, so that each is logged once. */
  private readonly foreign = new Set<string>();

  constructor(private readonly o: PolicySyncOptions) {}

  /** SPEC §4: a pod reaches its own namespace's ConfigMaps and, as cluster/NAME, lsmns's own; nothing else. */
  async sync(wanted: Map<string, WantedPolicy>): Promise<void> {
    const maps = [...this.o.configMaps.cache.values()].sort((a, b) => a.key.localeCompare(b.key));
    for (const [rel, w] of wanted) {
      if (nameRuleBroken(w.name, 'policy name')) continue;
      const cm = maps.find((m) => m.namespace === w.ns && m.policies.includes(w.name));
      if (!cm) continue; // the hook waits --policy-wait, then fails with the remedy
      await this.write(rel, w.name, cm);
    }
    for (const rel of this.foreign) if (!wanted.has(rel)) this.foreign.delete(rel);
    this.removeUnwanted(wanted);
  }

  private async write(rel: string, name: string, cm: PolicyMap): Promise<void> {
    const file = join(this.o.policyDir, `${rel}.aa`);
    const from = `${cm.key}@${cm.rv}`;
    const owner = readOwner(file);
    if (owner?.from === from && existsSync(file)) return;
    const present = existsSync(file);
    if (present && !owned(file, owner)) {
      if (!this.foreign.has(rel)) this.o.logger.warn({ policy: rel, file, from: cm.key }, 'a policy file the agent did not write (or that was edited since) is in the way; left as it is');
      this.foreign.add(rel);
      return;
    }
    this.foreign.delete(rel);
    const obj = await this.o.api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${encodeURIComponent(cm.namespace)}/configmaps/${encodeURIComponent(cm.name)}`);
    const text = obj.data?.[`${name}.aa`];
    if (typeof text !== 'string') return;
    if (Buffer.byteLength(text) > MAX_POLICY_BYTES) { this.o.logger.warn({ configMap: cm.key, policy: name }, 'policy over the size limit; not synced'); return; }
    const digest = digestOf(text);
    // The sidecar first, as ownership markers go before the mkdir: a crash in between leaves no file of the
    // agent's unmarked, and previousDigest still recognises the old file as the agent's.
    const marker: PolicyOwner = { formatVersion: POLICY_OWNER_FORMAT_VERSION, writtenBy: WRITTEN_BY, node: this.o.nodeName, from, digest, previousDigest: present ? digestOfFile(file) : null };
    writeFileAtomic(`${file}${POLICY_OWNER_SUFFIX}`, `${JSON.stringify(marker)}\n`, { mode: 0o644, dirMode: 0o755 });
    writeFileAtomic(file, text, { mode: 0o644, dirMode: 0o755 });
    this.o.logger.info({ policy: rel, from: cm.key, digest }, 'policy synced');
    if (this.o.precompile) {
      // A policy that does not compile is reported by the hook at the container start, with its remedy.
      await this.o.precompile({ ref: rel, path: file, text, digest }).catch((e: Error) => this.o.logger.warn({ policy: rel, err: e.message }, 'policy does not compile'));
    }
  }

  /** The agent's own files that no pod on this node references any more, found by their sidecars. */
  private removeUnwanted(wanted: Map<string, WantedPolicy>): void {
    for (const rel of ownedPolicies(this.o.policyDir)) {
      if (wanted.has(rel)) continue;
      const file = join(this.o.policyDir, `${rel}.aa`);
      if (owned(file, readOwner(file))) {
        rmSync(file, { force: true });
        this.o.logger.info({ policy: rel, file }, 'removed a synced policy that no pod on this node references');
      } else {
        this.o.logger.warn({ policy: rel, file }, 'a synced policy was edited since the agent wrote it; left in place as an administrator\'s');
      }
      rmSync(`${file}${POLICY_OWNER_SUFFIX}`, { force: true });
    }
  }
}

/** Store-relative names ("scope/name") of the policy files that carry an ownership sidecar. */
export function ownedPolicies(policyDir: string): string[] {
  const suffix = `.aa${POLICY_OWNER_SUFFIX}`;
  const out: string[] = [];
  let scopes;
  try {
    scopes = readdirSync(policyDir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const s of scopes) {
    if (!s.isDirectory()) continue;
    let names: string[];
    try {
      names = readdirSync(join(policyDir, s.name));
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith(suffix)) out.push(`${s.name}/${n.slice(0, -suffix.length)}`);
  }
  return out.sort();
}
