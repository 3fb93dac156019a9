// systemd units for the served hooks: a socket unit that owns the agent's root-only socket, and the agent
// service it activates (the agent takes the listening socket as fd 3, LISTEN_FDS=1). Pure rendering.

import type { CommonOptions } from '../config.js';
import type { InstallFile } from './hooks-d.js';

export interface SystemdOptions {
  unitDir: string;
  options: CommonOptions;
  /** The agent's command line (absolute program first). */
  agentCommand: string[];
}

/** systemd splits ExecStart on spaces and treats quotes, backslashes and % specially: quote each word. */
function execWord(w: string): string {
  const q = w.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%');
  return /[\s"'\\%;$]/.test(w) || w === '' ? `"${q}"` : q;
}

export function renderSystemdUnits(o: SystemdOptions): InstallFile[] {
  const dir = o.unitDir.replace(/\/+$/, '');
  const socket = [
    '# Written by lsmns install --served --systemd; removed by lsmns install --uninstall.',
    '[Unit]',
    'Description=lsmns node agent socket (served OCI hooks)',
    '',
    '[Socket]',
    `ListenStream=${o.options.socket}`,
    'SocketUser=root',
    'SocketGroup=root',
    'SocketMode=0600',
    'DirectoryMode=0700',
    'RemoveOnStop=yes',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
  const service = [
    '# Written by lsmns install --served --systemd; removed by lsmns install --uninstall.',
    '[Unit]',
    'Description=lsmns node agent (served OCI hooks, GC)',
    'Requires=lsmns-agent.socket',
    'After=lsmns-agent.socket',
    '',
    '[Service]',
    'Type=simple',
    // No Environment= lines: the agent reads node.conf (--config in its command), so editing it is enough.
    `ExecStart=${o.agentCommand.map(execWord).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=1',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return [
    { path: `${dir}/lsmns-agent.socket`, content: socket, mode: 0o644 },
    { path: `${dir}/lsmns-agent.service`, content: service, mode: 0o644 },
  ];
}
