// Keys that only look like lsmns keys (issue 16, finding 9): `lsmns.іo/apparmor-namespace` with a Cyrillic і, or
// `Ismns.io/...` with a capital I, is not an lsmns key, so the pod would run unconfined without a word. The
// webhook refuses such keys in opted-in namespaces. Confusables come from Unicode's confusables.txt (UTS #39)
// through the unhomoglyph package: its table, not ours. Only the webhook and the tests import this module: the
// table is a 100 KiB regex, and the hook's cold path must not load it.

import unhomoglyph from 'unhomoglyph';
import { isLsmnsKey } from './keys.js';

/** UTS #39's skeleton, made case-blind: compatibility forms first, then confusables before and after lowercasing. */
export function fold(s: string): string {
  return unhomoglyph(unhomoglyph(s.normalize('NFKD')).toLowerCase());
}

const LSMNS = fold('lsmns');

/** The part of an annotation key that names its owner: the prefix before the first `/`, or the whole key. */
function ownerPart(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? key : key.slice(0, i);
}

/** True when the key is not an lsmns key but its owner part reads `lsmns` once confusables are folded. */
export function looksLikeLsmnsKey(key: string): boolean {
  if (isLsmnsKey(key)) return false;
  return fold(ownerPart(key).slice(0, 253)).includes(LSMNS);
}

/** The keys of an annotation map that only look like lsmns keys, in key order. */
export function confusableKeys(annotations: Record<string, unknown> | null | undefined): string[] {
  if (!annotations || typeof annotations !== 'object') return [];
  return Object.keys(annotations).filter(looksLikeLsmnsKey).sort();
}

/**
 * The same test for the admission policy's CEL, over ASCII keys only (the API server refuses any other key
 * before a ValidatingAdmissionPolicy sees it): for each letter of "lsmns", every ASCII character, or pair of
 * characters, that folds to it. The manifest holds this pattern; its test regenerates it from the table.
 */
export function asciiLookalikePattern(): string {
  const printable = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i));
  const pairs = printable.filter((c) => /[A-Za-z0-9]/.test(c)).flatMap((a) => printable.filter((c) => /[A-Za-z0-9]/.test(c)).map((b) => a + b));
  // Inside a class only these need a backslash; none occurs for these letters, so the CEL needs no escapes.
  const inClass = (c: string) => c.replace(/[\\\]^-]/g, '\\$&');
  const parts = [...new Set('lsmns')].map((letter): [string, string] => {
    const want = fold(letter);
    const singles = printable.filter((c) => fold(c) === want).map(inClass).join('');
    const doubles = pairs.filter((p) => fold(p) === want && fold(p[0]!) + fold(p[1]!) === want);
    return [letter, doubles.length > 0 ? `(?:[${singles}]|${doubles.join('|')})` : `[${singles}]`];
  });
  const by = new Map(parts);
  return [...'lsmns'].map((l) => by.get(l)!).join('');
}
