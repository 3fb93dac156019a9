// The runtime configuration an administrator adds by hand: a containerd runtime handler and RuntimeClass that
// run the lsmns shim front, and CRI-O's equivalent. Kept minimal here; see docs/decisions.md.

export interface SnippetOptions {
  /** The shim front (hooks/lsmns-runtime) as installed. */
  shim: string;
  hooksDir: string;
  handler?: string;
}

export function runtimeSnippets(o: SnippetOptions): string {
  const h = o.handler ?? 'lsmns';
  return [
    `# containerd (config.toml): a runtime handler that runs the lsmns shim front, which calls runc.`,
    `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${h}]`,
    `  runtime_type = "io.containerd.runc.v2"`,
    `  pod_annotations = ["lsmns.io/*", "container.lsmns.io/*"]`,
    `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${h}.options]`,
    `    BinaryName = ${JSON.stringify(o.shim)}`,
    ``,
    `# Kubernetes: the RuntimeClass that selects it (the lsmns webhook sets runtimeClassName).`,
    `apiVersion: node.k8s.io/v1`,
    `kind: RuntimeClass`,
    `metadata:`,
    `  name: ${h}`,
    `handler: ${h}`,
    ``,
    `# CRI-O (crio.conf.d): the same handler, and the hooks directory lsmns install wrote.`,
    `[crio.runtime]`,
    `hooks_dir = [${JSON.stringify(o.hooksDir)}]`,
    `[crio.runtime.runtimes.${h}]`,
    `runtime_path = ${JSON.stringify(o.shim)}`,
    ``,
  ].join('\n');
}
