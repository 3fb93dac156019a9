// The test cluster of `make cluster-up` (scripts/cluster/), reached with the kubectl it built. Every call goes
// to the real API server; nothing here is faked.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo (this file runs from dist/test/cluster/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLUSTER = join(REPO, '.cluster');
export const KUBECTL = join(CLUSTER, 'bin', 'kubectl');
export const KUBECONFIG = join(CLUSTER, 'admin.kubeconfig');
export const LSMNS_NS = 'lsmns-system';
// The agent's hostPath /var/lib/lsmns is .cluster/node/var/lib/lsmns (scripts/cluster/node.sh).
export const SIM_STATE = join(CLUSTER, 'node', 'var', 'lib', 'lsmns', 'sim-kernel.json');

/** A Kubernetes object as kubectl prints it. */
export type Obj = Record<string, any>;

export interface Run { code: number; stdout: string; stderr: string }

/** kubectl as the cluster admin (or as --as=USER when given in args); never throws. */
export function kubectl(args: string[], input?: string): Run {
  const r = spawnSync(KUBECTL, ['--kubeconfig', KUBECONFIG, ...args], { input, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** kubectl that must succeed; returns stdout. */
export function kubectlOk(args: string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function kubectlJson<T = Obj>(args: string[], input?: string): T {
  return JSON.parse(kubectlOk([...args, '-o', 'json'], input)) as T;
}

/** Throws with what to run when the cluster is not up (make test-cluster starts it). */
export function requireCluster(): void {
  if (!existsSync(KUBECTL) || !existsSync(KUBECONFIG)) throw new Error(`no test cluster in ${CLUSTER}: run make cluster-up`);
  const r = kubectl(['get', '--raw', '/readyz']);
  if (r.code !== 0) throw new Error(`the test cluster's API server does not answer (${r.stderr.trim()}): run make cluster-down cluster-up`);
}

/** The AppArmor namespaces the node's simulated kernel holds now. */
export function simNamespaces(): string[] {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'lsmns.cjs'), 'sim', 'show', '--backend', 'sim', '--sim-state', SIM_STATE, '--output', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lsmns sim show: ${r.stderr}`);
  const view = JSON.parse(r.stdout) as { namespaces?: { name: string }[] };
  return (view.namespaces ?? []).map((n) => n.name);
}

/** A namespace for one test file, deleted afterwards without waiting; opted in when asked. */
export function makeNamespace(name: string, labels: Record<string, string> = {}): void {
  kubectl(['delete', 'namespace', name, '--wait=true', '--timeout=60s', '--ignore-not-found']);
  const doc = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
  kubectlOk(['create', '-f', '-'], JSON.stringify(doc));
  // Pods are refused until the controller manager has made the namespace's default ServiceAccount.
  kubectlOk(['-n', name, 'wait', '--for=create', 'serviceaccount/default', '--timeout=60s']);
}

export function deleteNamespace(name: string): void {
  kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
}

/** A minimal pod of the test image (lsmns.test/busybox:1, imported by the cluster's images.sh). */
export function podDoc(name: string, namespace: string, o: { annotations?: Record<string, string>; runtimeClassName?: string; command?: string } = {}): object {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      ...(o.runtimeClassName ? { runtimeClassName: o.runtimeClassName } : {}),
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: 'lsmns.test/busybox:1', imagePullPolicy: 'Never', command: ['/bin/sh', '-c', o.command ?? 'sleep 3600'] }],
    },
  };
}

/** Creates a pod (a server-side dry run when dryRun) and returns the object the API server admitted, or the refusal. */
export function createPod(doc: object, dryRun = false): { pod?: Obj; error?: string } {
  const r = kubectl(['create', '-f', '-', '-o', 'json', ...(dryRun ? ['--dry-run=server'] : [])], JSON.stringify(doc));
  return r.code === 0 ? { pod: JSON.parse(r.stdout) } : { error: r.stderr.trim() };
}

/** Thrown by an until() callback to stop waiting at once (what it waits for will not come). */
export class GiveUp extends Error {}

/** Polls fn every 500 ms until it returns a value other than undefined, or throws after ms. A GiveUp from fn ends
 *  the wait; other errors (a kubectl that failed once) are retried and reported at the deadline. */
export async function until<T>(what: string, ms: number, fn: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = fn();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
