import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { readStdin } from '../cli/io.js';
import { deliveryOf, displayOf, factsFlags, inputFlags } from '../cli/input-flags.js';
import { resolveFacts } from '../kernel/facts-source.js';
import { exitCodeFor, planInputs, plansJson } from '../run/plan.js';
import { renderPlansText } from '../render/plan-text.js';
import { policyStoreOf } from '../policy/store.js';
import { policyWaitOf } from '../oci/hook.js';

export default class Plan extends LsmnsCommand {
  static override summary = 'Print what lsmns would do for a pod or a bundle (a dry run).';
  static override description = 'Exit codes: 0 ready or nothing to do, 2 invalid input, 3 not possible on this node.';
  static override examples = [
    '<%= config.bin %> plan --pod examples/pod.yaml',
    '<%= config.bin %> plan --pod pods.json --lsm capability,selinux --kernel 6.8.0 --output json',
    '<%= config.bin %> plan --bundle /run/containers/abc',
  ];
  static override flags = { ...inputFlags, ...factsFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Plan);
    const o = commonOptions(flags);
    const facts = await resolveFacts({ nodeFacts: flags['node-facts'], lsm: flags.lsm, kernel: flags.kernel, attrDisplay: displayOf(flags['attr-display']) }, o);
    const plans = await planInputs({ pod: flags.pod, bundle: flags.bundle, state: flags.state, readStdin }, facts, { delivery: deliveryOf(flags.delivery) }, {
      policies: policyStoreOf(o), hostProfileDir: o.hostProfileDir, policyWaitMs: policyWaitOf(undefined, process.env),
    });
    this.emit(flags.output === 'json', () => plansJson(plans), () => renderPlansText(plans), exitCodeFor(plans));
  }
}
