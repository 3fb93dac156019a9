import { Args, Command } from '@oclif/core';
import { readStdinSync } from '../cli/io.js';
import { HOOK_STAGES } from '../oci/gate.js';

// Listed for `lsmns --help`; bin/lsmns.cjs runs `lsmns hook` itself from a code-cached bundle, without oclif.
export default class Hook extends Command {
  static override summary = 'The OCI hook: createRuntime/prestart create the pod\'s namespace and load its policy; poststop releases it.';
  static override description = 'Reads the OCI state on stdin and the bundle\'s config.json. Containers without lsmns.io/ annotations exit 0 at once. Fails closed: exit 2 invalid input, 3 not possible on this node, 4 failed and unwound; the reason goes to stderr and to <state-dir>/hook.log. Options: --policy-wait MS (LSMNS_POLICY_WAIT, default 5000), --backend, --sim-state, --state-dir, --policy-dir, --output text|json.';
  static override examples = ['(in config.json or hooks.d) "args": ["lsmns", "hook", "createRuntime"]', 'lsmns hook poststop < state.json'];
  static override strict = false;
  static override args = { stage: Args.string({ options: [...HOOK_STAGES], required: true }) };

  async run(): Promise<void> {
    const { hookMain } = await import('../oci/hook-main.js');
    process.exitCode = await hookMain(this.argv, readStdinSync(), { env: process.env, stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) });
  }
}
