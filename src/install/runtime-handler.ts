// The runtime handler `lsmns` for containerd and CRI-O (KERNEL-FACTS B7): a runc table whose binary is the
// shim front, with the lsmns pod annotations passed into config.json. Rendering is pure; writing puts a
// drop-in file beside the runtime's config and never edits the main config file.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const HANDLER = 'lsmns';
export const SHIM_FRONT = '/opt/lsmns/bin/lsmns-runtime';
/** Go path.Match globs, as containerd matches pod annotations. */
export const POD_ANNOTATIONS = ['lsmns.io/*', 'container.lsmns.io/*'] as const;

export interface HandlerOptions {
  handler?: string;
  shimPath?: string;
  /** Mirror the node's default runc setting; containerd and the kubelet must agree on the cgroup driver. */
  systemdCgroup?: boolean;
}

const q = (s: string) => JSON.stringify(s); // TOML basic strings share JSON's escapes for these values

/**
 * containerd config version 2 (1.6, 1.7) or 3 (2.x). The file is a drop-in: it carries its own `version`,
 * as containerd requires of every imported file.
 */
export function renderContainerdHandler(configVersion: 2 | 3, o: HandlerOptions = {}): string {
  const h = o.handler ?? HANDLER;
  const table = configVersion === 2 ? `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${h}` : `plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${h}`;
  const lines = [
    `# lsmns runtime handler for containerd ${configVersion === 2 ? '1.6/1.7' : '2.x'} (config version ${configVersion}); RuntimeClass handler "${h}".`,
    `version = ${configVersion}`,
    '',
    `[${table}]`,
    `  runtime_type = "io.containerd.runc.v2"`,
    `  pod_annotations = [${POD_ANNOTATIONS.map(q).join(', ')}]`,
    '',
    `[${table}.options]`,
    `  BinaryName = ${q(o.shimPath ?? SHIM_FRONT)}`,
  ];
  if (o.systemdCgroup !== undefined) lines.push(`  SystemdCgroup = ${o.systemdCgroup}`);
  return `${lines.join('\n')}\n`;
}

/** CRI-O copies every pod annotation into the spec, so only the runtime's path is needed. */
export function renderCrioHandler(o: HandlerOptions & { runtimeRoot?: string } = {}): string {
  const h = o.handler ?? HANDLER;
  return [
    `# lsmns runtime handler for CRI-O; RuntimeClass handler "${h}".`,
    `[crio.runtime.runtimes.${h}]`,
    `runtime_path = ${q(o.shimPath ?? SHIM_FRONT)}`,
    `runtime_type = "oci"`,
    `runtime_root = ${q(o.runtimeRoot ?? '/run/runc')}`,
    '',
  ].join('\n');
}

export interface WriteResult {
  path: string;
  /** What is still needed by hand, if anything (containerd only reads drop-ins its main config imports). */
  note: string | null;
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

export function writeContainerdHandler(text: string, o: { confDir?: string; mainConfig?: string } = {}): WriteResult {
  const confDir = o.confDir ?? '/etc/containerd/conf.d';
  const main = o.mainConfig ?? '/etc/containerd/config.toml';
  const path = join(confDir, 'lsmns.toml');
  writeAtomic(path, text);
  const cfg = existsSync(main) ? readFileSync(main, 'utf8') : '';
  const imported = /^\s*imports\s*=.*$/m.exec(cfg)?.[0] ?? '';
  const covered = imported.includes(path) || imported.includes(`${confDir}/*.toml`);
  return { path, note: covered ? null : `add ${JSON.stringify(`${confDir}/*.toml`)} to the top-level imports list of ${main} (imports = [${JSON.stringify(`${confDir}/*.toml`)}]), then restart containerd` };
}

export function writeCrioHandler(text: string, o: { confDir?: string } = {}): WriteResult {
  const path = join(o.confDir ?? '/etc/crio/crio.conf.d', '50-lsmns.conf');
  writeAtomic(path, text);
  return { path, note: 'restart CRI-O (systemctl restart crio) to load it' };
}

/** Whether a runtime on this node has the handler configured (the node label lsmns.io/runtime-handler). */
export function handlerConfigured(o: { containerdFiles?: string[]; crioDir?: string; handler?: string } = {}): boolean {
  const h = o.handler ?? HANDLER;
  const files = o.containerdFiles ?? ['/etc/containerd/config.toml', '/etc/containerd/conf.d/lsmns.toml'];
  const re = new RegExp(`runtimes\\.${h}\\]`);
  for (const f of files) {
    try { if (re.test(readFileSync(f, 'utf8'))) return true; } catch { /* absent */ }
  }
  const crio = o.crioDir ?? '/etc/crio/crio.conf.d';
  try {
    return readdirSync(crio).some((f) => re.test(readFileSync(join(crio, f), 'utf8')));
  } catch {
    return false;
  }
}
