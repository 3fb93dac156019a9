import { Flags } from '@oclif/core';
import { LsmnsCommand } from '../cli/base.js';
import { kubeApiFrom, kubeFlags } from '../cli/kube-flags.js';
import { systemHost } from '../config.js';
import { ExitCode } from '../errors.js';
import { doctor, renderDoctorText, socketHealth } from '../install/doctor.js';
import { runProgram } from '../install/runtime-handler.js';

export default class Doctor extends LsmnsCommand {
  static override summary = 'Check this node as installed, line by line, with a remedy for each problem: run it first when a pod does not start.';
  static override description = 'Reads the node configuration (--config, LSMNS_CONFIG, else /etc/lsmns/node.conf) and checks the backend it selects, AppArmor and securityfs, the shim front and the hook client, the files lsmns install wrote (hooks.d and its gate), the lsmns handler in the runtime\'s live config (containerd config dump, crio config), the agent\'s /healthz and, with --node, the node\'s lsmns.io labels. Exits 0 when the node is ready, 3 otherwise. Changes nothing.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --config /tmp/node/etc/lsmns/node.conf --output json'];
  static override flags = {
    'containerd-config': Flags.string({ summary: 'containerd\'s main config, for containerd config dump', default: '/etc/containerd/config.toml' }),
    node: Flags.string({ summary: 'Kubernetes node name: also check the labels the agent publishes', env: 'NODE_NAME', helpGroup: 'KUBERNETES' }),
    kubeconfig: kubeFlags.kubeconfig,
    'in-cluster': kubeFlags['in-cluster'],
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const node = flags.node;
    const api = node ? await kubeApiFrom(flags) : null;
    const r = await doctor({ ...(flags.config ? { config: flags.config } : {}), containerdConfig: flags['containerd-config'] }, {
      env: process.env, host: systemHost(), run: runProgram, health: (s) => socketHealth(s),
      ...(api && node ? { nodeLabels: async () => (await api.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${encodeURIComponent(node)}`)).metadata.labels ?? {} } : {}),
    });
    this.emit(flags.output === 'json', () => r, () => renderDoctorText(r), r.ready ? ExitCode.Ok : ExitCode.NotPossible);
  }
}
