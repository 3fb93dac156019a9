// `lsmns install`: the node as a user installs it. node.conf, the shim front and the hook client (each with
// the node.conf path baked in), hooks.d JSON (standalone or served), optional systemd units for the agent, and
// the runtime snippets to add by hand; `--uninstall` removes exactly what the manifest says was written.

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExitCode, LsmnsError } from '../errors.js';
import type { CommonOptions, HostProbe } from '../config.js';
import type { HookCommand } from '../oci/shim.js';
import { installFiles, manifestPath, uninstallFiles, type FileReport } from './files.js';
import { renderHooksD, type InstallFile } from './hooks-d.js';
import { bakeConfigPath, nodeLayout, renderLsmnsWrapper, renderNodeConf, under, type NodeLayout } from './layout.js';
import { runtimeSnippets } from './snippets.js';
import { renderSystemdUnits } from './systemd.js';

export const DEFAULT_HOOKS_DIR = '/etc/containers/oci/hooks.d';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface InstallOptions {
  /** Node paths (not yet under root) and the backend. */
  options: CommonOptions;
  /** The node lives under this directory, and so do the paths written into its files ('/' for a real node). */
  root: string;
  /** Files are written under this directory, with the node's own paths in them ('/' for none). */
  destdir: string;
  hooksDir: string;
  unitDir: string;
  installDir?: string;
  served: boolean;
  systemd: boolean;
  /** runc, crun or an absolute path: LSMNS_RUNTIME. */
  runtime: string;
  /** The lsmns entry (bin/lsmns.cjs or an installed lsmns): the standalone wrapper and the agent unit run it. */
  lsmnsBin: string;
  /** The node that runs a .cjs entry. */
  node: string;
  /** The programs to install: the shim front and the hook client (static, else sh). */
  frontSource: string;
  clientSource: string;
}

export interface InstallReport {
  manifest: string;
  config: string;
  backend: string;
  mode: 'served' | 'standalone';
  files: FileReport[];
  snippets: string;
}

/** The command that runs `lsmns <args>`: node runs a .cjs entry directly, anything else is executed. */
export function lsmnsCommand(bin: string, args: string[], node = process.execPath): string[] {
  return /\.c?js$/.test(bin) ? [node, bin, ...args] : [bin, ...args];
}

export function layoutOf(o: Pick<InstallOptions, 'root' | 'options' | 'installDir' | 'hooksDir' | 'unitDir'>): NodeLayout {
  return nodeLayout({ root: o.root, options: o.options, hooksDir: o.hooksDir, unitDir: o.unitDir, ...(o.installDir ? { installDir: o.installDir } : {}) });
}

export function renderInstall(o: InstallOptions, read: (p: string) => Buffer = (p) => readFileSync(p)): InstallFile[] {
  const l = layoutOf(o);
  const hook: HookCommand = o.served ? { mode: 'served', bin: l.client } : { mode: 'standalone', bin: l.lsmns };
  const files: InstallFile[] = [
    { path: l.config, content: renderNodeConf({ layout: l, served: o.served, runtime: o.runtime }), mode: 0o644 },
    { path: l.front, content: bakeConfigPath(read(o.frontSource), l.config), mode: 0o755 },
    { path: l.client, content: bakeConfigPath(read(o.clientSource), l.config), mode: 0o755 },
  ];
  if (!o.served) files.push({ path: l.lsmns, content: renderLsmnsWrapper(o.node, o.lsmnsBin), mode: 0o755 });
  files.push(...renderHooksD({ hooksDir: l.hooksDir, options: l.options, hook }));
  if (o.served && o.systemd) files.push(...renderSystemdUnits({ unitDir: l.unitDir, options: l.options, agentCommand: lsmnsCommand(o.lsmnsBin, ['agent', '--config', l.config], o.node) }));
  return files;
}

export function install(o: InstallOptions, read?: (p: string) => Buffer): InstallReport {
  const l = layoutOf(o);
  const dest = (p: string) => under(o.destdir, p);
  const files = renderInstall(o, read).map((f) => ({ ...f, path: dest(f.path) }));
  const written = installFiles(files, dest(l.options.stateDir));
  // The directories the node's state and policies live in; the agent makes its socket's own.
  for (const d of [l.options.stateDir, l.options.policyDir, dirname(l.options.simState)]) mkdirSync(dest(d), { recursive: true, mode: 0o755 });
  return {
    manifest: manifestPath(dest(l.options.stateDir)), config: l.config, backend: l.options.backend, mode: o.served ? 'served' : 'standalone',
    files: written, snippets: runtimeSnippets({ shim: l.front, hooksDir: l.hooksDir }),
  };
}

export function uninstall(stateDir: string): InstallReport {
  return { manifest: manifestPath(stateDir), config: '', backend: '', mode: 'standalone', files: uninstallFiles(stateDir), snippets: '' };
}

/**
 * The backend install writes when none was given: securityfs where AppArmor is enabled, else a refusal that
 * names --backend sim, so that a node never ends up on the simulated kernel without someone asking for it.
 */
export function detectBackend(host: HostProbe): 'securityfs' {
  if (host.appArmorEnabled()) return 'securityfs';
  throw new LsmnsError({
    code: 'NotPossibleOnNode', exitCode: ExitCode.NotPossible,
    message: 'AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y, or securityfs has no apparmor/), so lsmns install cannot pick the securityfs backend',
    remedy: 'to try lsmns out on the simulated kernel, install with --backend sim; for a real node, boot with AppArmor enabled (apparmor=1 security=apparmor)',
  });
}
