import { LsmnsCommand, commonOptions } from '../../cli/base.js';
import { displayOf, factsFlags } from '../../cli/input-flags.js';
import { resolveLsmList, simulatedFacts } from '../../kernel/facts.js';
import { SimKernel } from '../../kernel/sim/port.js';
import { simView } from '../../kernel/sim/view.js';
import { renderSimText } from '../../render/sim-text.js';

export default class SimReset extends LsmnsCommand {
  static override summary = 'Boot the simulated kernel afresh, optionally with another LSM list and kernel release.';
  static override examples = ['<%= config.bin %> sim reset', '<%= config.bin %> sim reset --lsm lockdown,capability,landlock,bpf --kernel 6.18.0'];
  static override flags = { lsm: factsFlags.lsm, kernel: factsFlags.kernel, 'attr-display': factsFlags['attr-display'] };

  async run(): Promise<void> {
    const { flags } = await this.parse(SimReset);
    const o = commonOptions(flags);
    const display = displayOf(flags['attr-display']) ?? null;
    // Validate before anything is written: a bad --lsm or --kernel leaves the old state in place.
    const boot = { ...(flags.lsm ? { lsm: flags.lsm } : {}), ...(flags.kernel ? { kernel: flags.kernel } : {}), display };
    simulatedFacts({ lsm: flags.lsm ?? 'capability', kernel: flags.kernel ?? '6.1.0' });
    if (flags.lsm) resolveLsmList(flags.lsm, { majorsStack: display !== null });
    const sim = new SimKernel({ path: o.simState });
    const s = await sim.store.reset(boot);
    const view = simView(s, sim.where);
    this.emit(flags.output === 'json', () => view, () => renderSimText(view));
  }
}
