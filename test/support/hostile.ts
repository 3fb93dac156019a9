// The hostile values of SPEC §1: each would reach a securityfs path or a /proc attr write if it got through.
// One table for every layer that must refuse them (the schema, the executor, the CLI), so they cannot drift.

import { MAX_NAME_BYTES } from '../../src/schema/names.js';

export interface HostileValue {
  name: string;
  value: string;
  /** The rule the schema names for it. */
  rule: RegExp;
}

export const HOSTILE_VALUES: readonly HostileValue[] = [
  { name: 'path traversal', value: '../../etc', rule: /'\.\.'|'\/'/ },
  { name: 'a slash', value: 'a/b', rule: /'\/'/ },
  { name: 'a colon', value: 'tenant:root', rule: /':'/ },
  { name: 'a double slash', value: 'a//b', rule: /'\/\/'/ },
  { name: 'an ampersand', value: 'a&b', rule: /'&'/ },
  { name: 'a newline', value: 'web\nexec :root:unconfined', rule: /newline/ },
  { name: 'NUL', value: 'a\0b', rule: /NUL/ },
  { name: 'whitespace', value: 'a b', rule: /whitespace/ },
  { name: 'a tab', value: 'a\tb', rule: /tab/ },
  { name: 'non-ASCII', value: 'tenänt', rule: /non-ASCII character U\+00E4/ },
  { name: 'unicode lookalike slash', value: 'a\u2215b', rule: /non-ASCII/ },
  { name: 'empty', value: '', rule: /must not be empty/ },
  { name: 'over-long', value: 'a'.repeat(MAX_NAME_BYTES + 1), rule: /at most 200 bytes \(this one is 201\)/ },
  { name: 'a leading digit', value: '1abc', rule: /start with an ASCII letter/ },
  { name: 'a leading dot', value: '.hidden', rule: /start with an ASCII letter/ },
  { name: 'a bang', value: 'a!b', rule: /'!'/ },
  { name: 'dot-dot inside', value: 'a..b', rule: /'\.\.'/ },
];

/** Every annotation key whose value is a name; a container override stands for all of them. */
export const NAME_KEYS = ['lsmns.io/apparmor-namespace', 'lsmns.io/apparmor-profile', 'lsmns.io/host-profile', 'lsmns.io/apparmor-policy', 'container.lsmns.io/web'] as const;

/** The rule the schema names for `h` under `key`: a policy reference NAME/NAME is another namespace's policy. */
export function ruleFor(key: string, h: HostileValue): RegExp {
  return key === 'lsmns.io/apparmor-policy' && h.value === 'a/b' ? /cannot name another namespace's policy/ : h.rule;
}
