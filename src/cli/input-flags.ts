// Flags shared by the commands that plan: what to plan, and which node facts to plan against.

import { Flags } from '@oclif/core';
import type { DisplayInterface } from '../kernel/facts.js';
import type { Delivery } from '../plan/types.js';

export const inputFlags = {
  pod: Flags.string({ summary: 'a Pod, a List of pods or multi-document YAML/JSON; - reads stdin', exclusive: ['bundle', 'state'] }),
  bundle: Flags.string({ summary: 'an OCI bundle directory (its config.json)', exclusive: ['pod', 'state'] }),
  state: Flags.string({ summary: 'an OCI state JSON file, as a hook receives it; - reads stdin', exclusive: ['pod', 'bundle'] }),
  delivery: Flags.string({ summary: 'how the label reaches the container: shim (config.json) or field (pod securityContext, CRI-O)', options: ['shim', 'field'], default: 'shim' }),
};

export const factsFlags = {
  'node-facts': Flags.string({ summary: 'node facts from a file written by lsmns probe --output json' }),
  probe: Flags.boolean({ summary: 'probe the backend for node facts (the default when no facts are given)' }),
  lsm: Flags.string({ summary: 'simulated node: active LSMs, in the format of /sys/kernel/security/lsm' }),
  kernel: Flags.string({ summary: 'simulated node: kernel release, e.g. 6.1.0-56-amd64' }),
  'attr-display': Flags.string({ summary: 'simulated node: the out-of-tree display interface it has (Ubuntu kernels)', options: ['display', 'interface_lsm'] }),
};

export function deliveryOf(v: string | undefined): Delivery {
  return v === 'field' ? 'field' : 'shim';
}

export function displayOf(v: string | undefined): DisplayInterface | undefined {
  return v === 'display' || v === 'interface_lsm' ? v : undefined;
}
