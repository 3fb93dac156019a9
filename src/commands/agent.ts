import { Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { kubeApiFrom, kubeFlags, untilSignal } from '../cli/kube-flags.js';
import { runAgent, systemdListenFd } from '../agent/agent.js';
import { DEFAULT_GC_INTERVAL_S } from '../agent/collector.js';
import { DEFAULT_MAX_BODY } from '../agent/server.js';
import { DEFAULT_POLICY_WAIT_MS } from '../oci/hook.js';
import { openNodeBackend } from '../oci/node-guard.js';

export default class AgentCommand extends LsmnsCommand {
  static override summary = 'Run the node agent: it serves the lsmns hooks (and the shim\'s bundle preparation) on a root-only unix socket, and collects the namespaces lsmns created whose holders are gone.';
  static override description = 'The hooks in hooks.d are then the thin client lsmns-hook-client (static, built by make build; hooks/lsmns-hook-client is the sh fallback), so that no Node process starts per container. Results, errors and exit codes are those of lsmns hook. Logs are JSON lines on stderr. SIGTERM finishes the requests in flight, removes the socket and exits 0. Under systemd socket activation (LISTEN_FDS) it serves the socket it is handed.';
  static override examples = ['<%= config.bin %> agent', '<%= config.bin %> agent --config /etc/lsmns/node.conf', '<%= config.bin %> agent --socket /run/lsmns/agent.sock --sim-state /var/lib/lsmns/sim-kernel.json'];
  static override flags = {
    'policy-wait': Flags.integer({ summary: 'milliseconds a createRuntime waits for a policy that has not reached the node', default: DEFAULT_POLICY_WAIT_MS, min: 0, max: 600_000, env: 'LSMNS_POLICY_WAIT' }),
    'hook-client': Flags.string({ summary: 'absolute path of lsmns-hook-client, for the hooks the served shim adds (default: LSMNS_HOOK_CLIENT in the node configuration, else the built static client or the sh one in hooks/; with --node, the one in --install-dir)', env: 'LSMNS_HOOK_CLIENT' }),
    'max-body': Flags.integer({ summary: 'largest request body accepted, in bytes', default: DEFAULT_MAX_BODY, min: 1024, max: 64 * 1024 * 1024 }),
    node: Flags.string({ summary: 'Kubernetes node name: also watch this node\'s pods, sync their policies, publish node facts, GC and set lsmns.io/Confined', env: 'NODE_NAME', helpGroup: 'KUBERNETES' }),
    kubeconfig: kubeFlags.kubeconfig,
    'in-cluster': kubeFlags['in-cluster'],
    'lsmns-namespace': kubeFlags['lsmns-namespace'],
    'health-port': Flags.integer({ summary: 'port for /healthz, /readyz and /metrics (with --node)', default: 8081, helpGroup: 'KUBERNETES' }),
    'gc-grace': Flags.integer({ summary: 'seconds a namespace lsmns created outlives its holders (its pod with --node, else its containers) before GC removes it', default: 60, min: 0 }),
    'gc-interval': Flags.integer({ summary: 'seconds between GC runs (GC also runs at start)', default: DEFAULT_GC_INTERVAL_S, min: 1, max: 86_400 }),
    'host-root': Flags.string({ summary: 'where the host\'s / is seen for its runtime configuration (/etc/containerd/config.toml, /etc/crio/crio.conf.d): the lsmns.io/runtime-handler node fact; the DaemonSet mounts them under /host', default: '/', helpGroup: 'KUBERNETES' }),
    'install-dir': Flags.string({ summary: 'where the DaemonSet installs lsmns-hook-client and lsmns-runtime (node facts)', default: '/opt/lsmns/bin', helpGroup: 'KUBERNETES' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    const common = commonOptions(flags);
    const listenFd = systemdListenFd(process.env);
    // A bad kubeconfig is refused before the socket is served, so nothing is left running.
    const api = flags.node ? await kubeApiFrom(flags) : null;
    // Hooks run on the host: in Kubernetes the client is where the DaemonSet installs it, not in this image.
    const hookClient = flags['hook-client'] ?? common.file?.values.LSMNS_HOOK_CLIENT ?? (flags.node ? `${flags['install-dir']}/lsmns-hook-client` : undefined);
    await runAgent({
      // No silent sim on a node: with no node configuration and no backend, an AppArmor host refuses annotated containers.
      openBackend: () => openNodeBackend(common),
      common, policyWaitMs: flags['policy-wait'], maxBodyBytes: flags['max-body'], until: untilSignal,
      ...(hookClient ? { hookClient } : {}), ...(listenFd !== undefined ? { listenFd } : {}),
      gc: { graceMs: flags['gc-grace'] * 1000, intervalMs: flags['gc-interval'] * 1000 },
      ...(flags.node && api ? { kube: { api, nodeName: flags.node, lsmnsNamespace: flags['lsmns-namespace'], healthPort: flags['health-port'], installDir: flags['install-dir'], hostRoot: flags['host-root'] } } : {}),
    });
  }
}
