import { Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { errorText, readStdin } from '../cli/io.js';
import { deliveryOf, inputFlags } from '../cli/input-flags.js';
import { applyExitCode, applyInputs, applyJson } from '../run/apply.js';
import { openBackend } from '../kernel/factory.js';
import { policyStoreOf } from '../policy/store.js';
import { renderApplyText, renderPlanText } from '../render/plan-text.js';

export default class Apply extends LsmnsCommand {
  static override summary = 'Apply a pod\'s plan to the kernel backend (the simulated kernel by default), playing the runtime too.';
  static override description = 'Stage create makes the namespace, loads the policy and starts each container\'s root task under its label; stage poststop releases the pod\'s references and removes the namespace. Exit codes: 0 ok, 2 invalid input, 3 not possible, 4 failed and unwound.';
  static override examples = ['<%= config.bin %> apply --pod examples/pod.yaml', '<%= config.bin %> apply --pod examples/pod.yaml --stage poststop'];
  static override flags = {
    ...inputFlags,
    stage: Flags.string({ summary: 'which part of the lifecycle to apply', options: ['create', 'poststop'], default: 'create' }),
    'policy-wait': Flags.integer({ summary: 'milliseconds to wait for a policy that has not reached the node', default: 0, min: 0, max: 600_000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Apply);
    const o = commonOptions(flags);
    const backend = await openBackend(o);
    const items = await applyInputs({ pod: flags.pod, bundle: flags.bundle, state: flags.state, readStdin }, {
      backend, policies: policyStoreOf(o), stateDir: o.stateDir, delivery: deliveryOf(flags.delivery), stage: flags.stage === 'poststop' ? 'poststop' : 'create', policyWaitMs: flags['policy-wait'],
    });
    const json = flags.output === 'json';
    if (!json) for (const i of items) if (i.error) process.stderr.write(errorText(i.error));
    const text = () => items.filter((i) => !i.error).map((i) => (i.result ? renderApplyText(i.result, backend.kernel.where) : renderPlanText(i.plan))).join('\n\n');
    this.emit(json, () => applyJson(items), text, applyExitCode(items));
  }
}
