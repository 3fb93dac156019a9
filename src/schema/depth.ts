// How deep a parsed document nests, counted without recursion: schema checks, error messages and
// JSON.stringify all recurse, so a document 100,000 levels deep must be refused before any of them sees it.

/** Real inputs (pods, config.json, the OCI state) nest a dozen levels; this leaves room and stops abuse. */
export const MAX_DEPTH = 100;

/** True when value nests deeper than max (objects and arrays count; an explicit stack, not the call stack). */
export function nestsDeeperThan(value: unknown, max: number = MAX_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}
