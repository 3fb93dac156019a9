import { LsmnsCommand, commonOptions } from '../../cli/base.js';
import { SimKernel } from '../../kernel/sim/port.js';
import { simView } from '../../kernel/sim/view.js';
import { renderSimText } from '../../render/sim-text.js';

export default class SimShow extends LsmnsCommand {
  static override summary = 'Print the simulated kernel: LSMs, AppArmor namespaces, profiles, tasks and their labels.';

  async run(): Promise<void> {
    const { flags } = await this.parse(SimShow);
    const o = commonOptions(flags);
    const sim = new SimKernel({ path: o.simState });
    const view = simView(sim.store.read(), sim.where);
    this.emit(flags.output === 'json', () => view, () => renderSimText(view));
  }
}
