// The base of every oclif command: the shared flags of SPEC §3 (each with its environment variable),
// --output, and one place that turns errors into exit codes. Commands stay thin: parse, call, render.

import { Command, Flags } from '@oclif/core';
import { ExitCode, LsmnsError, invalidInput, toLsmnsError } from '../errors.js';
import { CONFIG_ENV, DEFAULT_CONFIG, DEFAULTS, ENV, nodeOptions } from '../config.js';
import { reportError } from './io.js';

export const commonFlags = {
  backend: Flags.string({ description: 'kernel backend', options: ['sim', 'securityfs'], env: ENV.backend, helpGroup: 'COMMON', summary: `kernel backend (default: the node configuration's, else ${DEFAULTS.backend})` }),
  'sim-state': Flags.string({ description: 'simulated kernel state file', env: ENV.simState, helpGroup: 'COMMON', summary: `simulated kernel state (default ${DEFAULTS.simState})` }),
  securityfs: Flags.string({ description: 'securityfs mount point', env: ENV.securityfs, helpGroup: 'COMMON', summary: `securityfs mount (default ${DEFAULTS.securityfs})` }),
  'policy-dir': Flags.string({ description: 'node policy store', env: ENV.policyDir, helpGroup: 'COMMON', summary: `node policy store (default ${DEFAULTS.policyDir})` }),
  'host-profile-dir': Flags.string({ description: 'host AppArmor profiles', env: ENV.hostProfileDir, helpGroup: 'COMMON', summary: `host profiles (default ${DEFAULTS.hostProfileDir})` }),
  'state-dir': Flags.string({ description: 'lsmns state directory', env: ENV.stateDir, helpGroup: 'COMMON', summary: `state dir (default ${DEFAULTS.stateDir})` }),
  socket: Flags.string({ description: 'agent socket', env: ENV.socket, helpGroup: 'COMMON', summary: `agent socket (default ${DEFAULTS.socket})` }),
  config: Flags.string({ description: 'node configuration file (KEY=value lines, LSMNS_* keys)', helpGroup: 'COMMON', summary: `node configuration (default ${DEFAULT_CONFIG} when it exists; env ${CONFIG_ENV})` }),
  output: Flags.string({ description: 'output format', options: ['text', 'json'], default: 'text', helpGroup: 'COMMON' }),
};

export type CommonFlags = { [K in keyof typeof commonFlags]?: string };

/** The common options: flags (oclif has already put LSMNS_* variables into them), then the node configuration. */
export function commonOptions(f: CommonFlags): ReturnType<typeof nodeOptions> {
  return nodeOptions(f, process.env);
}

export abstract class LsmnsCommand extends Command {
  static override baseFlags = commonFlags;

  protected wantsJson(): boolean {
    const a = this.argv;
    const i = a.indexOf('--output');
    return a.includes('--output=json') || (i >= 0 && a[i + 1] === 'json');
  }

  /**
   * Prints a result: JSON on stdout with --output json, the text otherwise; sets the exit code. Both forms are
   * built lazily, so only the one asked for costs anything. A list is written one compact item per line.
   */
  protected emit(json: boolean, data: () => unknown, text: () => string, exitCode: number = ExitCode.Ok): void {
    if (json) {
      const d = data() as { items?: unknown[] };
      if (Array.isArray(d?.items) && d.items.length > 1) {
        const { items, ...head } = d;
        const open = JSON.stringify({ ...head, items: [] }).slice(0, -2);
        process.stdout.write(`${open}\n${items.map((i) => JSON.stringify(i)).join(',\n')}\n]}\n`);
      } else {
        process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      }
    } else {
      const t = text();
      if (t.length > 0) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    }
    process.exitCode = exitCode;
  }

  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<void> {
    const json = this.wantsJson();
    // oclif's own parse errors (unknown flag, bad option value) are invalid input: exit 2.
    const e = err instanceof LsmnsError ? err
      : err.oclif?.exit !== undefined && err.oclif.exit !== 0 ? invalidInput('InvalidInput', err.message.split('\n')[0]!, `see lsmns ${this.id ?? ''} --help`)
      : toLsmnsError(err);
    process.exitCode = reportError(e, json);
  }
}
