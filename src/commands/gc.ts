import { Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../cli/base.js';
import { collectOnNode, livenessFromMarker, parseDuration } from '../apply/gc.js';
import { renderGcText } from '../render/gc-text.js';
import { ExitCode } from '../errors.js';

export default class Gc extends LsmnsCommand {
  static override summary = 'Remove the AppArmor namespaces lsmns created whose every holder is gone, and say why.';
  static override description = 'A reference is live while its container init runs (pid and start time recorded at createRuntime). Only namespaces an lsmns marker of this boot names, with the identity the namespace had after lsmns made it, are removed; a namespace a crash left half-made is reported, not removed. The agent runs the same GC. A second run changes nothing. Exit 4 when a removal failed.';
  static override examples = ['<%= config.bin %> gc', '<%= config.bin %> gc --grace 0 --dry-run --output json'];
  static override flags = {
    grace: Flags.string({ summary: 'how long a namespace outlives its holders before it goes (counted from its creation): 60s, 5m, 0', default: '60s' }),
    'dry-run': Flags.boolean({ summary: 'say what would go, change nothing', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Gc);
    const r = await collectOnNode({ common: commonOptions(flags), isLive: livenessFromMarker, now: Date.now, graceMs: parseDuration(flags.grace), dryRun: flags['dry-run'] });
    this.emit(flags.output === 'json', () => r, () => renderGcText(r), r.failed.length > 0 ? ExitCode.ApplyFailed : ExitCode.Ok);
  }
}
