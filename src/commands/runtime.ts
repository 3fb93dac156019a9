import { Command } from '@oclif/core';

// Listed for `lsmns --help`; bin/lsmns.cjs runs `lsmns runtime` itself from a code-cached bundle, without oclif.
export default class Runtime extends Command {
  static override summary = 'The runtime shim: on create/run, write the planned AppArmor label and the lsmns hooks into the bundle, then run runc or crun.';
  static override description = 'Usage: lsmns runtime [--runtime runc|crun|PATH] [--backend ...] -- <runtime arguments>. Every verb but create and run passes straight through; the exit status is the runtime\'s. A refusal goes to stderr and, as a runc JSON log line, to the runtime\'s --log file. Usually run behind the shim front lsmns-runtime (a RuntimeClass handler or podman --runtime).';
  static override examples = ['lsmns runtime --runtime crun -- --root /run/crun create --bundle /path/to/bundle web-1'];
  static override strict = false;

  async run(): Promise<void> {
    const { runtimeMain } = await import('../oci/runtime-main.js');
    process.exitCode = await runtimeMain(this.argv, { env: process.env, cwd: process.cwd(), stderr: (s) => process.stderr.write(s) });
  }
}
