import { Flags } from '@oclif/core';
import { LsmnsCommand } from '../cli/base.js';
import { givenFromFlags, resolveOptions, systemHost } from '../config.js';
import { invalidInput } from '../errors.js';
import { DEFAULT_HOOKS_DIR, DEFAULT_UNIT_DIR, detectBackend, install, layoutOf, uninstall } from '../install/install.js';
import { checkDir, DEFAULT_INSTALL_DIR, under } from '../install/layout.js';
import { defaultLsmnsBin } from '../oci/shim.js';
import { runtimeOf } from '../oci/runtime-main.js';
import { shippedFront, shippedHookClient } from '../install/package-files.js';
import { containerdConfigVersion, renderContainerdHandler, renderCrioHandler, writeContainerdHandler, writeCrioHandler, type ContainerdConfigVersion, type WriteResult } from '../install/runtime-handler.js';

export default class Install extends LsmnsCommand {
  static override summary = 'Lay out an lsmns node: node.conf, the shim front, the hook client and hooks.d JSON (standalone or served); print or write the runtime handler; --uninstall removes exactly what it wrote.';
  static override description = 'Writes /etc/lsmns/node.conf (the backend, served or standalone, the socket, the directories and the runtime), installs the shim front lsmns-runtime and lsmns-hook-client into --install-dir with that path built in, and oci-hooks 1.0.0 JSON for createRuntime and poststop gated on any lsmns.io/ or container.lsmns.io/ annotation. Every file is recorded in <state-dir>/install-manifest.json. Without --backend it picks securityfs where AppArmor is enabled and refuses otherwise. --root DIR lays the node out under DIR as if DIR were /, paths in the files included; --destdir DIR writes under DIR but keeps the node\'s own paths (the DaemonSet\'s init container).';
  static override examples = [
    '<%= config.bin %> install --served --systemd',
    '<%= config.bin %> install --root /tmp/node --backend sim --served',
    '<%= config.bin %> install --root /tmp/node --containerd',
    '<%= config.bin %> install --uninstall',
  ];
  static override flags = {
    root: Flags.string({ summary: 'lay the node out under this directory as if it were /, paths in the files included' }),
    destdir: Flags.string({ summary: 'write the files under this directory, with the node\'s own paths in them (an init container that mounts the host at /host)', exclusive: ['root'] }),
    'install-dir': Flags.string({ summary: 'where the shim front and the hook client go', default: DEFAULT_INSTALL_DIR }),
    'hooks-dir': Flags.string({ summary: 'the hooks.d directory (podman, CRI-O)', default: DEFAULT_HOOKS_DIR }),
    served: Flags.boolean({ summary: 'the shim and the hooks call the node agent over its socket (LSMNS_SHIM_MODE=served)' }),
    systemd: Flags.boolean({ summary: 'also write lsmns-agent.socket and lsmns-agent.service (with --served)' }),
    'unit-dir': Flags.string({ summary: 'where the systemd units go', default: DEFAULT_UNIT_DIR }),
    runtime: Flags.string({ summary: 'the runtime the shim front runs: runc, crun or an absolute path (LSMNS_RUNTIME)', default: 'runc' }),
    'lsmns-bin': Flags.string({ summary: 'absolute path of lsmns for the standalone wrapper and the agent unit (default: this lsmns)' }),
    'hook-client': Flags.string({ summary: 'the hook client to install (default: the built static client, else the sh one)' }),
    shim: Flags.string({ summary: 'the shim front path to print in a handler (default: the installed front)' }),
    uninstall: Flags.boolean({ summary: 'remove exactly the files an earlier install wrote' }),
    containerd: Flags.string({ summary: 'print (or --write) the containerd runtime handler lsmns; config version 2 (1.6/1.7), 3 (2.x), 4 (2.4 on), or without a value: the version containerd\'s config has', options: ['2', '3', '4', 'auto'], helpGroup: 'RUNTIME HANDLER' }),
    crio: Flags.boolean({ summary: 'print (or --write) the CRI-O runtime handler lsmns', helpGroup: 'RUNTIME HANDLER' }),
    write: Flags.boolean({ summary: 'write the handler: appended to containerd\'s config (after a backup), or a CRI-O drop-in', helpGroup: 'RUNTIME HANDLER' }),
    'containerd-config': Flags.string({ summary: 'containerd\'s main config', default: '/etc/containerd/config.toml', helpGroup: 'RUNTIME HANDLER' }),
    'crio-conf-dir': Flags.string({ summary: 'CRI-O\'s drop-in directory', default: '/etc/crio/crio.conf.d', helpGroup: 'RUNTIME HANDLER' }),
  };

  /** `--containerd` may come without a version: it then means the one containerd's config has. */
  static withContainerdAuto(argv: string[]): string[] {
    return argv.flatMap((a, i) => (a === '--containerd' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-')) ? [a, 'auto'] : [a]));
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Install, Install.withContainerdAuto(this.argv));
    const root = flags.root ? checkDir('--root', flags.root) : '/';
    const destdir = flags.destdir ? checkDir('--destdir', flags.destdir) : '/';
    // Not the node configuration: install writes it, from flags and LSMNS_* variables only.
    const given = resolveOptions(givenFromFlags(flags), process.env, null);
    const layout = () => layoutOf({ root, options: given, installDir: flags['install-dir'], hooksDir: flags['hooks-dir'], unitDir: flags['unit-dir'] });
    if (flags.containerd || flags.crio) return this.handler(flags, flags.shim ?? layout().front);
    if (flags.write) throw invalidInput('InvalidInput', '--write goes with --containerd or --crio', 'add --containerd or --crio');
    if (flags.systemd && !flags.served) throw invalidInput('InvalidInput', '--systemd needs --served: the units run the agent that serves the hooks', 'add --served, or drop --systemd');
    if (flags.uninstall) {
      const r = uninstall(under(destdir, layout().options.stateDir));
      this.emit(flags.output === 'json', () => r, () => [...r.files.map((f) => `${f.action.padEnd(12)} ${f.path}`), r.files.length === 0 ? 'nothing to remove' : `manifest     ${r.manifest}`].join('\n'));
      return;
    }
    const backend = given.backendFrom === 'default' ? detectBackend(systemHost(given.securityfs)) : given.backend;
    const r = install({
      options: { ...given, backend }, root, destdir, installDir: flags['install-dir'], hooksDir: flags['hooks-dir'], unitDir: flags['unit-dir'],
      served: flags.served, systemd: flags.systemd, runtime: runtimeOf(flags.runtime, {}), node: process.execPath,
      lsmnsBin: flags['lsmns-bin'] ?? defaultLsmnsBin(process.env, process.argv[1]),
      frontSource: shippedFront(), clientSource: flags['hook-client'] ?? shippedHookClient(),
    });
    const text = () => [
      ...r.files.map((f) => `${f.action.padEnd(12)} ${f.path}`),
      `manifest     ${r.manifest}`,
      `node.conf    ${r.config} (backend ${r.backend}, ${r.mode})`,
      '', r.snippets,
    ].join('\n');
    this.emit(flags.output === 'json', () => r, text);
  }

  /** The runtime handler for the shim front (KERNEL-FACTS B7): printed, or written with --write. */
  private handler(flags: { containerd?: string; crio?: boolean; write?: boolean; 'containerd-config': string; 'crio-conf-dir': string; output: string }, shimPath: string): void {
    const done: WriteResult[] = [];
    const texts: string[] = [];
    let version: { version: ContainerdConfigVersion; from: string } | null = null;
    if (flags.containerd) {
      if (flags.write) done.push(writeContainerdHandler({ shimPath, mainConfig: flags['containerd-config'] }));
      else {
        version = flags.containerd === 'auto' ? containerdConfigVersion(flags['containerd-config']) : { version: Number(flags.containerd) as ContainerdConfigVersion, from: '--containerd' };
        texts.push(`${flags.containerd === 'auto' ? `# containerd config version ${version.version}, from ${version.from}.\n` : ''}${renderContainerdHandler(version.version, { shimPath })}`);
      }
    }
    if (flags.crio) {
      if (flags.write) done.push(writeCrioHandler({ shimPath, confDir: flags['crio-conf-dir'] }));
      else texts.push(renderCrioHandler({ shimPath }));
    }
    this.emit(flags.output === 'json', () => (flags.write ? { written: done } : { snippets: texts, ...(version ? { containerdConfig: version } : {}) }), () => (flags.write ? done.map((d) => d.note).join('\n') : texts.join('\n')));
  }
}
