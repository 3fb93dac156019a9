import { Flags } from '@oclif/core';
import { fileURLToPath } from 'node:url';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { invalidInput } from '../errors.js';
import { DEFAULT_HOOKS_DIR, DEFAULT_UNIT_DIR, install, uninstall } from '../install/install.js';
import { defaultLsmnsBin } from '../oci/shim.js';

const pkgFile = (rel: string) => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));

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
    'hook-client': Flags.string({ summary: 'absolute path of lsmns-hook-client (served)', default: pkgFile('hooks/lsmns-hook-client') }),
    shim: Flags.string({ summary: 'absolute path of the shim front for the printed snippets', default: pkgFile('hooks/lsmns-runtime') }),
    uninstall: Flags.boolean({ summary: 'remove exactly the files an earlier install wrote' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Install);
    const o = commonOptions(flags);
    if (flags.systemd && !flags.served) throw invalidInput('InvalidInput', '--systemd needs --served: the units run the agent that serves the hooks', 'add --served, or drop --systemd');
    const r = flags.uninstall ? uninstall(o) : install({
      options: o, hooksDir: flags['hooks-dir'], served: flags.served, systemd: flags.systemd, unitDir: flags['unit-dir'],
      lsmnsBin: flags['lsmns-bin'] ?? defaultLsmnsBin(process.env, process.argv[1]), hookClient: flags['hook-client'], shim: flags.shim,
    });
    const text = () => [
      ...r.files.map((f) => `${f.action.padEnd(12)} ${f.path}`),
      r.files.length === 0 ? 'nothing to remove' : `manifest     ${r.manifest}`,
      ...(r.snippets ? ['', r.snippets] : []),
    ].join('\n');
    this.emit(flags.output === 'json', () => r, text);
  }
}
