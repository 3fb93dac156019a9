// Flags for the commands that talk to the Kubernetes API (controller, agent --node): where the API is,
// and a process that runs until SIGTERM/SIGINT and then stops cleanly.

import { hostname } from 'node:os';
import { Flags } from '@oclif/core';
import pino from 'pino';
import type { HttpKubeApi } from '../kube/client.js';

export const kubeFlags = {
  kubeconfig: Flags.string({ summary: 'kubeconfig file (default: in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config)', env: 'KUBECONFIG' }),
  'in-cluster': Flags.boolean({ summary: 'use the pod\'s service account even if a kubeconfig is present' }),
  'lsmns-namespace': Flags.string({ summary: 'lsmns\'s own Kubernetes namespace (its Lease, cluster-wide policies)', env: 'LSMNS_NAMESPACE', default: 'lsmns-system' }),
  identity: Flags.string({ summary: 'this replica\'s name for the Lease and Events (default: $POD_NAME, else the host name)', env: 'POD_NAME' }),
  'health-port': Flags.integer({ summary: 'port for /healthz, /readyz and /metrics', default: 8080 }),
};

/** Loaded on use: the Kubernetes client costs about 50 MiB of RSS, which an agent serving hooks only never needs. */
export async function kubeApiFrom(f: { kubeconfig?: string; 'in-cluster'?: boolean }): Promise<HttpKubeApi> {
  const { HttpKubeApi, loadKubeConfig } = await import('../kube/client.js');
  return new HttpKubeApi(loadKubeConfig({ kubeconfig: f['in-cluster'] ? undefined : f.kubeconfig, inCluster: f['in-cluster'] }, process.env));
}

export function identityOf(f: { identity?: string }): string {
  return f.identity || hostname();
}

export function jsonLogger(name: string): pino.Logger {
  return pino({ name, level: process.env.LSMNS_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

/** Resolves when the process is asked to stop. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => { process.off('SIGTERM', on); process.off('SIGINT', on); resolve(s); };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
