// The runtime configuration an administrator adds for the shim: the containerd and CRI-O runtime handlers
// (rendered by runtime-handler.ts, which `lsmns agent` also writes), the RuntimeClass that selects them, and
// CRI-O's hooks_dir for the hooks.d JSON that install wrote.

import { HANDLER, renderContainerdHandler, renderCrioHandler } from './runtime-handler.js';

export interface SnippetOptions {
  /** The shim front (hooks/lsmns-runtime) as installed. */
  shim: string;
  hooksDir: string;
  handler?: string;
}

export function runtimeSnippets(o: SnippetOptions): string {
  const h = o.handler ?? HANDLER;
  return [
    `# containerd 1.6/1.7: a drop-in (e.g. /etc/containerd/conf.d/lsmns.toml, listed in imports = [...]).`,
    renderContainerdHandler(2, { handler: h, shimPath: o.shim }),
    `# containerd 2.x:`,
    renderContainerdHandler(3, { handler: h, shimPath: o.shim }),
    `# Kubernetes: the RuntimeClass that selects it (the lsmns webhook sets runtimeClassName).`,
    `apiVersion: node.k8s.io/v1`,
    `kind: RuntimeClass`,
    `metadata:`,
    `  name: ${h}`,
    `handler: ${h}`,
    ``,
    `# CRI-O (/etc/crio/crio.conf.d/50-lsmns.conf), and the hooks directory lsmns install wrote.`,
    renderCrioHandler({ handler: h, shimPath: o.shim }),
    `[crio.runtime]`,
    `hooks_dir = [${JSON.stringify(o.hooksDir)}]`,
    ``,
  ].join('\n');
}
