import { Args, Flags } from '@oclif/core';
import { LsmnsCommand, commonOptions } from '../../cli/base.js';
import { ExitCode } from '../../errors.js';
import { DEFAULT_INCLUDE_DIRS } from '../../policy/includes.js';
import { checkPolicyFiles, renderCheckText } from '../../policy/lint.js';

export default class PolicyCheck extends LsmnsCommand {
  static override summary = 'Parse AppArmor policy files as apparmor_parser would, and lint a tenant\'s for namespace escapes.';
  static override description = 'Prints each file\'s profiles (as apparmor_parser -N names them) or its problems with line and column. '
    + 'Exit codes: 0 every file accepted, 2 some file refused.';
  static override examples = [
    '<%= config.bin %> policy check --as tenant web.aa',
    '<%= config.bin %> policy check --include-dir /etc/apparmor.d --output json /etc/apparmor.d/bin.ping',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'policy file', required: true }) };
  static override flags = {
    as: Flags.string({ description: 'whose policy: a tenant\'s is also linted for namespace escapes', options: ['tenant', 'host'], default: 'host' }),
    'include-dir': Flags.string({ description: 'where includes are searched, in order (default: --host-profile-dir, then /etc/apparmor.d)', multiple: true, multipleNonGreedy: true }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(PolicyCheck);
    const o = commonOptions(flags);
    const includeDirs = flags['include-dir'] ?? [o.hostProfileDir, ...DEFAULT_INCLUDE_DIRS];
    const report = checkPolicyFiles(argv as string[], { as: flags.as as 'tenant' | 'host', includeDirs });
    this.emit(flags.output === 'json', () => report, () => renderCheckText(report), report.files.every((f) => f.ok) ? ExitCode.Ok : ExitCode.InvalidInput);
  }
}
