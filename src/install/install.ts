// `lsmns install`: hooks.d JSON (standalone or served), optional systemd units for the agent, and the runtime
// snippets to add by hand; `--uninstall` removes exactly what the manifest says was written.

import type { CommonOptions } from '../config.js';
import type { HookCommand } from '../oci/shim.js';
import { installFiles, manifestPath, uninstallFiles, type FileReport } from './files.js';
import { renderHooksD, type InstallFile } from './hooks-d.js';
import { runtimeSnippets } from './snippets.js';
import { renderSystemdUnits } from './systemd.js';

export const DEFAULT_HOOKS_DIR = '/etc/containers/oci/hooks.d';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface InstallOptions {
  options: CommonOptions;
  hooksDir: string;
  served: boolean;
  systemd: boolean;
  unitDir: string;
  /** Absolute path of the lsmns CLI (standalone hooks, the agent unit). */
  lsmnsBin: string;
  /** Absolute path of lsmns-hook-client (served hooks). */
  hookClient: string;
  /** Absolute path of the shim front, for the printed snippets. */
  shim: string;
}

export interface InstallReport {
  manifest: string;
  files: FileReport[];
  snippets: string;
}

/** The command that runs `lsmns <args>`: node runs a .cjs entry directly, anything else is executed. */
export function lsmnsCommand(bin: string, args: string[]): string[] {
  return /\.c?js$/.test(bin) ? [process.execPath, bin, ...args] : [bin, ...args];
}

export function renderInstall(o: InstallOptions): InstallFile[] {
  const hook: HookCommand = o.served ? { mode: 'served', bin: o.hookClient } : { mode: 'standalone', bin: o.lsmnsBin };
  const files = renderHooksD({ hooksDir: o.hooksDir, options: o.options, hook });
  if (o.served && o.systemd) files.push(...renderSystemdUnits({ unitDir: o.unitDir, options: o.options, agentCommand: lsmnsCommand(o.lsmnsBin, ['agent', '--socket', o.options.socket]) }));
  return files;
}

export function install(o: InstallOptions): InstallReport {
  const files = installFiles(renderInstall(o), o.options.stateDir);
  return { manifest: manifestPath(o.options.stateDir), files, snippets: runtimeSnippets({ shim: o.shim, hooksDir: o.hooksDir }) };
}

export function uninstall(options: CommonOptions): InstallReport {
  return { manifest: manifestPath(options.stateDir), files: uninstallFiles(options.stateDir), snippets: '' };
}
