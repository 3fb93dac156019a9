// Name rules for everything that reaches a securityfs path or a /proc attr write (SPEC §1).
// Pure functions: each check returns the first rule broken, worded for a person, or null.

export const MAX_NAME_BYTES = 200;
export const NAME_EXAMPLE = 'tenant-a';
const NAME_RE = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** Escapes a value so that it can be printed on one line: controls, quotes and non-ASCII are shown as escapes. */
export function escapeValue(value: string, max = 80): string {
  let out = '';
  let shown = 0;
  for (const ch of value) {
    if (shown >= max) {
      out += `...(${Buffer.byteLength(value)} bytes in all)`;
      break;
    }
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp === 0) out += '\\0';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp > 0x7e) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
    shown++;
  }
  return `"${out}"`;
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp === 0) return 'NUL';
  if (ch === '\n') return 'a newline';
  if (ch === '\r') return 'a carriage return';
  if (ch === '\t') return 'a tab';
  if (cp < 0x20 || cp === 0x7f) return `control character U+${cp.toString(16).padStart(4, '0').toUpperCase()}`;
  if (cp > 0x7e) return `non-ASCII character U+${cp.toString(16).padStart(4, '0').toUpperCase()}`;
  if (/\s/.test(ch)) return 'whitespace';
  return `'${ch}'`;
}

/**
 * The rule a namespace or profile name breaks, or null when it is valid.
 * Hostile shapes are named first (they are what an attacker tries), then the general grammar.
 */
export function nameRuleBroken(value: string, what = 'name'): string | null {
  if (value.length === 0) return `${what} must not be empty`;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `${what} must be at most ${MAX_NAME_BYTES} bytes (this one is ${bytes})`;
  let i = 0;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp > 0x7e || cp < 0x20 || cp === 0x7f) return `${what} must be printable ASCII: ${describeChar(ch)} at position ${i}`;
    i++;
  }
  if (/\s/.test(value)) return `${what} must not contain whitespace`;
  if (value.includes('//')) return `${what} must not contain '//' (it separates levels of a label or a namespace path)`;
  if (value.includes('..')) return `${what} must not contain '..' (path traversal)`;
  if (value.includes('/')) return `${what} must not contain '/' (it would reach another securityfs path)`;
  if (value.includes(':')) return `${what} must not contain ':' (it delimits a namespace in a label)`;
  if (value.includes('&')) return `${what} must not contain '&' (it means "stack" in a label)`;
  if (!/^[A-Za-z]/.test(value)) return `${what} must start with an ASCII letter, not ${describeChar(value[0]!)}`;
  if (!NAME_RE.test(value)) {
    const bad = [...value].find((c) => !/[A-Za-z0-9._-]/.test(c))!;
    return `${what} may only contain letters, digits, '.', '_' and '-', not ${describeChar(bad)}`;
  }
  return null;
}

/** DNS-1123 label, as Kubernetes requires for container names. */
export function containerNameRuleBroken(value: string): string | null {
  if (value.length === 0) return 'container name must not be empty';
  if (value.length > 63) return `container name must be at most 63 characters (this one is ${value.length})`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    return 'container name must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit';
  }
  return null;
}
