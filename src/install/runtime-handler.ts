// The runtime handler `lsmns` for containerd and CRI-O (KERNEL-FACTS B7): a runc table whose binary is the
// shim front, with the lsmns pod annotations passed into config.json. Rendering is pure. Writing appends the
// tables to containerd's main config (never a drop-in: containerd replaces a whole plugin section from an
// imported file, which would drop the node's own CRI settings) and puts a drop-in file into CRI-O's conf.d.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { join } from 'node:path';
import { ExitCode, LsmnsError } from '../errors.js';

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

/** containerd's config versions: 2 (1.6, 1.7), 3 (2.0 on), 4 (2.4 on, which still reads 2 and 3). */
export type ContainerdConfigVersion = 2 | 3 | 4;
const CONFIG_VERSIONS: readonly string[] = ['2', '3', '4'];
const RUNTIMES_OF: Record<ContainerdConfigVersion, string> = { 2: '1.6/1.7', 3: '2.x', 4: '2.4 and later' };

/** Version 4 moved only the server settings (grpc, ttrpc, debug) into plugins: its CRI tables are version 3's. */
export function containerdTable(configVersion: ContainerdConfigVersion, handler = HANDLER): string {
  return configVersion === 2 ? `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${handler}` : `plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${handler}`;
}

/**
 * The tables to add to containerd's config, version 2 (1.6, 1.7), 3 (2.x) or 4 (2.4 on). They go into the main
 * config file, whose `version` line must match.
 */
export function renderContainerdHandler(configVersion: ContainerdConfigVersion, o: HandlerOptions = {}): string {
  const h = o.handler ?? HANDLER;
  const table = containerdTable(configVersion, h);
  const lines = [
    `# lsmns runtime handler for containerd ${RUNTIMES_OF[configVersion]} (config version ${configVersion}); RuntimeClass handler "${h}".`,
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

/** Runs a program and returns its exit status and stdout (null status: it could not run). */
export type Runner = (cmd: string, args: string[]) => { status: number | null; stdout: string };
export const runProgram: Runner = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '' };
};

const versionLine = (text: string) => /^\s*version\s*=\s*(\d+)/m.exec(text)?.[1];
const known = (v: string | undefined): v is `${ContainerdConfigVersion}` => v !== undefined && CONFIG_VERSIONS.includes(v);

/**
 * containerd's config version for the handler that goes into configFile: the file's own `version` line, which is
 * what containerd reads it as (containerd 2.x migrates an older file whole, in memory: 2.4's `config dump` says 4
 * for a version 3 file); without a file, what `containerd --config FILE config dump` says (the
 * version this containerd writes). Returns the version and where it came from, or throws a refusal that names
 * --containerd 2|3|4.
 */
export function containerdConfigVersion(configFile: string, run: Runner = runProgram): { version: ContainerdConfigVersion; from: string } {
  let text = '';
  try { text = readFileSync(configFile, 'utf8'); } catch { /* absent: containerd's own answer below */ }
  const v = versionLine(text);
  if (known(v)) return { version: Number(v) as ContainerdConfigVersion, from: `the version line of ${configFile}` };
  // A file without a version line is version 1, which lsmns does not write; containerd is asked only without a file.
  const dump = text ? undefined : run('containerd', ['--config', configFile, 'config', 'dump']);
  const fromDump = dump?.status === 0 ? versionLine(dump.stdout) : undefined;
  if (known(fromDump)) return { version: Number(fromDump) as ContainerdConfigVersion, from: `containerd --config ${configFile} config dump` };
  const said = !dump ? '' : `containerd config dump ${dump.status === null ? 'could not run (containerd is not on PATH)' : dump.status === 0 ? `says version ${fromDump ?? '1'}` : 'failed'}, and `;
  throw new LsmnsError({
    code: 'InvalidInput', exitCode: ExitCode.InvalidInput,
    message: `cannot tell containerd's config version: ${said}${text ? `${configFile} has version ${v ?? '1 (no version line)'}` : `${configFile} does not exist`}`,
    remedy: 'name it: --containerd 2 (containerd 1.6/1.7), --containerd 3 (containerd 2.x) or --containerd 4 (containerd 2.4 on)',
  });
}

export interface WriteResult {
  path: string;
  /** What happened, and what is still needed by hand (a restart). */
  note: string;
  changed: boolean;
}

const writeConfig = (path: string, text: string) => writeFileAtomic(path, text, { mode: 0o644, dirMode: 0o755 });

/**
 * Appends the handler to containerd's main config, after a backup, unless the table is there already. The
 * version (2, 3 or 4) comes from the file's own `version` line; a file without one is refused with the remedy.
 */
export function writeContainerdHandler(o: HandlerOptions & { mainConfig?: string } = {}): WriteResult {
  const path = o.mainConfig ?? '/etc/containerd/config.toml';
  const cfg = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const v = versionLine(cfg);
  if (!known(v)) {
    throw new LsmnsError({
      code: 'InvalidInput', exitCode: ExitCode.InvalidInput,
      message: `${path} ${cfg ? `has config version ${v ?? '1 (no version line)'}` : 'does not exist'}; lsmns writes handlers for config version 2 (containerd 1.6/1.7), 3 (2.x) and 4 (2.4 on)`,
      remedy: `write the full config first (containerd config default > ${path}), or print the snippet with lsmns install --containerd and merge it by hand`,
    });
  }
  const version = Number(v) as ContainerdConfigVersion;
  const table = containerdTable(version, o.handler);
  if (cfg.includes(`[${table}]`)) return { path, changed: false, note: `${path} already has [${table}]; left as it is` };
  writeConfig(`${path}.lsmns-backup`, cfg);
  writeConfig(path, `${cfg.replace(/\n*$/, '\n')}\n${renderContainerdHandler(version, o)}`);
  return { path, changed: true, note: `added [${table}] to ${path} (backup: ${path}.lsmns-backup); restart containerd to load it` };
}

export function writeCrioHandler(o: HandlerOptions & { runtimeRoot?: string; confDir?: string } = {}): WriteResult {
  const path = join(o.confDir ?? '/etc/crio/crio.conf.d', '50-lsmns.conf');
  writeConfig(path, renderCrioHandler(o));
  return { path, changed: true, note: `wrote ${path}; restart CRI-O (systemctl restart crio) to load it` };
}

/** Whether a runtime on this node has the handler configured (the node label lsmns.io/runtime-handler). */
export function handlerConfigured(o: { containerdFiles?: string[]; crioDir?: string; handler?: string; hostRoot?: string } = {}): boolean {
  const h = o.handler ?? HANDLER;
  // In the agent's container the host's runtime configuration is mounted under hostRoot (the DaemonSet: /host).
  const root = o.hostRoot ?? '/';
  const files = o.containerdFiles ?? [join(root, '/etc/containerd/config.toml')];
  const re = new RegExp(`runtimes\\.${h}\\]`);
  for (const f of files) {
    try { if (re.test(readFileSync(f, 'utf8'))) return true; } catch { /* absent */ }
  }
  const crio = o.crioDir ?? join(root, '/etc/crio/crio.conf.d');
  try {
    return readdirSync(crio).some((f) => re.test(readFileSync(join(crio, f), 'utf8')));
  } catch {
    return false;
  }
}
