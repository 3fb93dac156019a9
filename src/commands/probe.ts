import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { openKernel } from '../kernel/factory.js';
import { renderFactsText } from '../render/facts-text.js';

export default class Probe extends LsmnsCommand {
  static override summary = 'Print the node facts the chosen backend reports: LSMs, AppArmor features, attr interfaces, LSM syscalls, policy admin.';
  static override description = 'The JSON form is what --node-facts reads. Nothing on the node is changed.';
  static override examples = ['<%= config.bin %> probe --backend securityfs', '<%= config.bin %> probe --output json > node-facts.json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(Probe);
    const o = commonOptions(flags);
    const port = await openKernel(o);
    const facts = await port.probe();
    const d = port.describe();
    this.emit(flags.output === 'json', () => ({ ...facts, probe: { backend: d.backend, where: d.where, ...d.detail } }),
      () => renderFactsText(facts, `${d.backend} ${d.where}`, d.notes));
  }
}
