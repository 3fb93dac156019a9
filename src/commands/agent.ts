import { Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { Agent, systemdListenFd } from '../agent/agent.js';
import { DEFAULT_MAX_BODY } from '../agent/server.js';
import { DEFAULT_POLICY_WAIT_MS } from '../oci/hook.js';

export default class AgentCommand extends LsmnsCommand {
  static override summary = 'Run the node agent: it serves the lsmns hooks (and the shim\'s bundle preparation) on a root-only unix socket.';
  static override description = 'The hooks in hooks.d are then the thin client hooks/lsmns-hook-client, so that no Node process starts per container. Results, errors and exit codes are those of lsmns hook. Logs are JSON lines on stderr. SIGTERM finishes the requests in flight, removes the socket and exits 0. Under systemd socket activation (LISTEN_FDS) it serves the socket it is handed.';
  static override examples = ['<%= config.bin %> agent', '<%= config.bin %> agent --socket /run/lsmns/agent.sock --sim-state /var/lib/lsmns/sim-kernel.json'];
  static override flags = {
    'policy-wait': Flags.integer({ summary: 'milliseconds a createRuntime waits for a policy that has not reached the node', default: DEFAULT_POLICY_WAIT_MS, min: 0, max: 600_000, env: 'LSMNS_POLICY_WAIT' }),
    'max-body': Flags.integer({ summary: 'largest request body accepted, in bytes', default: DEFAULT_MAX_BODY, min: 1024, max: 64 * 1024 * 1024 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    const common = commonOptions(flags);
    const listenFd = systemdListenFd(process.env);
    const agent = new Agent({ common, policyWaitMs: flags['policy-wait'], maxBodyBytes: flags['max-body'], ...(listenFd !== undefined ? { listenFd } : {}) });
    await agent.start();
    await agent.runUntilSignal();
  }
}
