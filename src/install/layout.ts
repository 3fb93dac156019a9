// The node as `lsmns install` lays it out (SPEC §3): where every file goes and what node.conf says. Paths are
// node paths ("/etc/lsmns/node.conf"); --root DIR puts both the files and every path written into them under
// DIR (a node in a directory, for trials and tests); --destdir DIR (the DaemonSet's init container, which sees
// the host under /host) writes the files under DIR but keeps the node's own paths in them. Pure.

import { posix } from 'node:path';
import { DEFAULT_CONFIG, ENV, NODE_KEYS, type CommonOptions } from '../config.js';
import { invalidInput } from '../errors.js';
import { escapeValue } from '../schema/names.js';

export const DEFAULT_INSTALL_DIR = '/opt/lsmns/bin';
export const FRONT = 'lsmns-runtime';
export const CLIENT = 'lsmns-hook-client';

/** Under root, a node path; root '/' leaves it as it is. */
export function under(root: string, p: string): string {
  return root === '/' ? p : posix.join(root, p);
}

export function checkDir(flag: string, v: string): string {
  if (!v.startsWith('/') || /[\0\n\r]/.test(v)) throw invalidInput('InvalidInput', `${flag} ${escapeValue(v)}: must be an absolute path without control characters`, `give an absolute directory, e.g. ${flag} /tmp/node`);
  return posix.normalize(v).replace(/(.)\/+$/, '$1');
}

export interface NodeLayout {
  /** Node paths as they are written into files (under --root when given). */
  options: CommonOptions;
  config: string;
  installDir: string;
  front: string;
  client: string;
  /** The lsmns wrapper the standalone hooks and shim run (standalone only). */
  lsmns: string;
  hooksDir: string;
  unitDir: string;
}

/** Every path of the node, with --root applied (node paths stay as given without it). */
export function nodeLayout(o: { root: string; options: CommonOptions; config?: string; installDir?: string; hooksDir: string; unitDir: string }): NodeLayout {
  const r = (p: string) => under(o.root, p);
  const installDir = r(o.installDir ?? DEFAULT_INSTALL_DIR);
  const x = o.options;
  return {
    // securityfs is the kernel's interface, not part of the layout: it stays where the kernel mounts it.
    options: { backend: x.backend, securityfs: x.securityfs, simState: r(x.simState), policyDir: r(x.policyDir), hostProfileDir: r(x.hostProfileDir), stateDir: r(x.stateDir), socket: r(x.socket) },
    config: r(o.config ?? DEFAULT_CONFIG),
    installDir, front: `${installDir}/${FRONT}`, client: `${installDir}/${CLIENT}`, lsmns: `${installDir}/lsmns`,
    hooksDir: r(o.hooksDir), unitDir: r(o.unitDir),
  };
}

export interface NodeConfOptions {
  layout: NodeLayout;
  served: boolean;
  runtime: string;
}

/** node.conf: KEY=value lines, parsed (never sourced) by every front door; LSMNS_* variables override it. */
export function renderNodeConf(o: NodeConfOptions): string {
  const l = o.layout;
  const lines: [string, string][] = [
    [ENV.backend, l.options.backend],
    [NODE_KEYS.shimMode, o.served ? 'served' : 'standalone'],
    [ENV.socket, l.options.socket],
    [NODE_KEYS.hookClient, l.client],
    ...(o.served ? [] : [[NODE_KEYS.bin, l.lsmns] as [string, string]]),
    [ENV.stateDir, l.options.stateDir],
    [ENV.policyDir, l.options.policyDir],
    [ENV.hostProfileDir, l.options.hostProfileDir],
    [ENV.simState, l.options.simState],
    [ENV.securityfs, l.options.securityfs],
  ];
  return [
    // First: the shim front reads no further for the runtime's pass-through verbs (a dozen per pod).
    `${NODE_KEYS.runtime}=${o.runtime}`,
    '# lsmns node configuration, written by lsmns install (lsmns install --uninstall removes it).',
    '# Read by the shim front, the hook client, lsmns hook/runtime, the agent and the CLI: KEY=value lines,',
    '# never sourced; an LSMNS_* variable or a flag overrides a line. lsmns doctor checks this node.',
    ...lines.map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n');
}

/** The marker after which the static client carries its node.conf path (NUL-padded, CONF_FIELD bytes in all). */
export const CONF_MARKER = '@@LSMNS_CONFIG@@';
export const CONF_FIELD = 4096;

/**
 * Bakes the node.conf path into an installed front or client, so that it finds its node's configuration with
 * no environment: the `conf_default=` line of the sh programs, the marked field of the static client.
 */
export function bakeConfigPath(program: Buffer, config: string): Buffer {
  if (/[\0\n\r'"\\$`]/.test(config)) throw invalidInput('InvalidInput', `configuration path ${escapeValue(config)} contains a character a shell line cannot carry`, 'install under a plain directory name');
  const at = program.indexOf(CONF_MARKER);
  if (at >= 0) {
    const out = Buffer.from(program);
    const room = CONF_FIELD - CONF_MARKER.length;
    if (Buffer.byteLength(config) >= room) throw invalidInput('InvalidInput', `configuration path ${escapeValue(config)} is over ${room - 1} bytes`, 'install under a shorter directory');
    out.fill(0, at + CONF_MARKER.length, at + CONF_FIELD);
    out.write(config, at + CONF_MARKER.length);
    return out;
  }
  const text = program.toString('utf8');
  const re = /^conf_default=.*$/m;
  if (!re.test(text)) throw invalidInput('InvalidInput', 'the program to install has no place for the configuration path (no conf_default= line, no marker)', 'install the fronts lsmns ships (hooks/, dist/native/)');
  return Buffer.from(text.replace(re, `conf_default='${config}'`));
}

/** The lsmns wrapper for standalone hooks and the standalone shim: node runs the package's entry. */
export function renderLsmnsWrapper(node: string, entry: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh\n# Written by lsmns install: the lsmns CLI of this node (standalone hooks and shim).\nexec ${q(node)} ${q(entry)} "$@"\n`;
}
