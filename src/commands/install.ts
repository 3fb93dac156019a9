import { Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { invalidInput } from '../errors.js';
import { DEFAULT_HOOKS_DIR, DEFAULT_UNIT_DIR, install, uninstall } from '../install/install.js';
import { defaultLsmnsBin } from '../oci/shim.js';
import { packageFile, shippedHookClient } from '../install/package-files.js';
import { renderContainerdHandler, renderCrioHandler, writeContainerdHandler, writeCrioHandler, type WriteResult } from '../install/runtime-handler.js';

export default class Install extends LsmnsCommand {
  static override summary = 'Install the lsmns OCI hooks (hooks.d JSON), optionally served by the agent under systemd; --uninstall removes exactly what it wrote.';
  static override description = 'Writes oci-hooks 1.0.0 JSON for createRuntime and poststop, gated on the lsmns.io/apparmor-namespace annotation, records every file in <state-dir>/install-manifest.json, and prints the containerd, RuntimeClass and CRI-O snippets for the runtime shim.';
  static override examples = ['<%= config.bin %> install --hooks-dir /etc/containers/oci/hooks.d', '<%= config.bin %> install --served --systemd', '<%= config.bin %> install --uninstall'];
  static override flags = {
    'hooks-dir': Flags.string({ summary: 'the hooks.d directory (podman, CRI-O)', default: DEFAULT_HOOKS_DIR }),
    served: Flags.boolean({ summary: 'hooks call the node agent over its socket through lsmns-hook-client' }),
    systemd: Flags.boolean({ summary: 'also write lsmns-agent.socket and lsmns-agent.service (with --served)' }),
    'unit-dir': Flags.string({ summary: 'where the systemd units go', default: DEFAULT_UNIT_DIR }),
    'lsmns-bin': Flags.string({ summary: 'absolute path of lsmns for the hooks and the agent unit (default: this lsmns)' }),
    'hook-client': Flags.string({ summary: 'absolute path of lsmns-hook-client (served; default: the built static client, else the sh one)' }),
    shim: Flags.string({ summary: 'absolute path of the shim front for the printed snippets', default: packageFile('hooks/lsmns-runtime') }),
    uninstall: Flags.boolean({ summary: 'remove exactly the files an earlier install wrote' }),
    containerd: Flags.string({ summary: 'print (or --write) the containerd runtime handler lsmns for config version 2 (1.6/1.7) or 3 (2.x)', options: ['2', '3'], helpGroup: 'RUNTIME HANDLER' }),
    crio: Flags.boolean({ summary: 'print (or --write) the CRI-O runtime handler lsmns', helpGroup: 'RUNTIME HANDLER' }),
    write: Flags.boolean({ summary: 'write the handler: appended to containerd\'s config (after a backup), or a CRI-O drop-in', helpGroup: 'RUNTIME HANDLER' }),
    'containerd-config': Flags.string({ summary: 'containerd\'s main config', default: '/etc/containerd/config.toml', helpGroup: 'RUNTIME HANDLER' }),
    'crio-conf-dir': Flags.string({ summary: 'CRI-O\'s drop-in directory', default: '/etc/crio/crio.conf.d', helpGroup: 'RUNTIME HANDLER' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Install);
    const o = commonOptions(flags);
    if (flags.containerd || flags.crio) return this.handler(flags);
    if (flags.write) throw invalidInput('InvalidInput', '--write goes with --containerd or --crio', 'add --containerd 2|3 or --crio');
    if (flags.systemd && !flags.served) throw invalidInput('InvalidInput', '--systemd needs --served: the units run the agent that serves the hooks', 'add --served, or drop --systemd');
    const r = flags.uninstall ? uninstall(o) : install({
      options: o, hooksDir: flags['hooks-dir'], served: flags.served, systemd: flags.systemd, unitDir: flags['unit-dir'],
      lsmnsBin: flags['lsmns-bin'] ?? defaultLsmnsBin(process.env, process.argv[1]), hookClient: flags['hook-client'] ?? shippedHookClient(), shim: flags.shim,
    });
    const text = () => [
      ...r.files.map((f) => `${f.action.padEnd(12)} ${f.path}`),
      r.files.length === 0 ? 'nothing to remove' : `manifest     ${r.manifest}`,
      ...(r.snippets ? ['', r.snippets] : []),
    ].join('\n');
    this.emit(flags.output === 'json', () => r, text);
  }

  /** The runtime handler for the shim front (KERNEL-FACTS B7): printed, or written with --write. */
  private handler(flags: { containerd?: string; crio?: boolean; write?: boolean; shim: string; 'containerd-config': string; 'crio-conf-dir': string; output: string }): void {
    const shimPath = flags.shim;
    const done: WriteResult[] = [];
    const texts: string[] = [];
    if (flags.containerd) {
      if (flags.write) done.push(writeContainerdHandler({ shimPath, mainConfig: flags['containerd-config'] }));
      else texts.push(renderContainerdHandler(flags.containerd === '3' ? 3 : 2, { shimPath }));
    }
    if (flags.crio) {
      if (flags.write) done.push(writeCrioHandler({ shimPath, confDir: flags['crio-conf-dir'] }));
      else texts.push(renderCrioHandler({ shimPath }));
    }
    this.emit(flags.output === 'json', () => (flags.write ? { written: done } : { snippets: texts }), () => (flags.write ? done.map((d) => d.note).join('\n') : texts.join('\n')));
  }
}
