import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { LsmnsCommand, commonOptions } from '../../cli/base.js';
import { SimKernel } from '../../kernel/sim/port.js';

export default class SimCheck extends LsmnsCommand {
  static override summary = 'Decide a file access in the simulated kernel through the task\'s whole label stack.';
  static override description = 'Allowed only if every layer of the label allows it; prints each layer\'s verdict and the rule that decided. '
    + 'Exit 0 either way (the decision is the output), 2 on bad input.';
  static override examples = ['<%= config.bin %> sim check --pid 5 --path /proc/sys/kernel/shmmax --perm w'];
  static override flags = {
    pid: Flags.integer({ description: 'task', required: true, min: 1 }),
    path: Flags.string({ description: 'absolute path', required: true }),
    perm: Flags.string({ description: 'file permissions, letters of r w a l k m x', required: true }),
    owner: Flags.boolean({ description: 'the task owns the file (owner rules apply)', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SimCheck);
    const o = commonOptions(flags);
    // The parser is loaded only here, when an access is actually decided.
    const [{ checkAccess, renderAccessText }, { fileIncludeResolver }] = await Promise.all([import('../../kernel/sim/mediate.js'), import('../../policy/includes.js')]);
    const dirs = [o.hostProfileDir, '/etc/apparmor.d'].filter((d) => existsSync(d));
    const d = checkAccess(new SimKernel({ path: o.simState }).store.read(), flags.pid, flags.path, flags.perm, { owner: flags.owner, resolve: dirs.length > 0 ? fileIncludeResolver(dirs) : undefined });
    this.emit(flags.output === 'json', () => d, () => renderAccessText(d));
  }
}
