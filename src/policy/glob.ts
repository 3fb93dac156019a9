// AppArmor's path patterns as automata, so that overlap between a host rule and a tenant rule is decided exactly
// rather than guessed from prefixes. The semantics follow apparmor_parser's conversion (parser_regex.c):
//   *   any run of characters but "/"          **  any run of characters, "/" included
//   ?   one character but "/"                  [..] [^..]  a character class (a negated class matches "/")
//   {a,b} alternation, nested, empty items allowed; "{a}" (no comma) is an error, as in apparmor_parser
//   a "*" or "**" right after "/" and followed by "/" or the end needs one character but "/" first, so that
//   /dir/* matches no empty name; variables expand to one pattern per value, as apparmor_parser does; runs of
//   "/" collapse to one.
// The alphabet is symbolic (sorted character ranges), so negated classes need no enumeration.

export class GlobError extends Error {}

/** Inclusive, sorted, disjoint character ranges (UTF-16 code units; NUL never matches). */
export type Ranges = [number, number][];
const MAX = 0xffff;
const SLASH = 47;
const ANY: Ranges = [[1, MAX]];
const NON_SLASH: Ranges = [[1, SLASH - 1], [SLASH + 1, MAX]];

function normalise(r: Ranges): Ranges {
  const s = r.filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
function complement(r: Ranges): Ranges {
  const out: Ranges = [];
  let next = 1;
  for (const [a, b] of normalise(r)) { if (a > next) out.push([next, a - 1]); next = Math.max(next, b + 1); }
  if (next <= MAX) out.push([next, MAX]);
  return out;
}
function intersectRanges(x: Ranges, y: Ranges): Ranges {
  const out: Ranges = [];
  let i = 0; let j = 0;
  while (i < x.length && j < y.length) {
    const lo = Math.max(x[i]![0], y[j]![0]); const hi = Math.min(x[i]![1], y[j]![1]);
    if (lo <= hi) out.push([lo, hi]);
    if (x[i]![1] < y[j]![1]) i++; else j++;
  }
  return out;
}
const hasChar = (r: Ranges, c: number): boolean => r.some(([a, b]) => a <= c && c <= b);

type Node =
  | { t: 'set'; r: Ranges }
  | { t: 'star'; r: Ranges }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; alts: Node[] };

/** Collapses runs of "/" (apparmor_parser's filter_slashes, a leading "//" kept). */
export function filterSlashes(p: string): string {
  const lead = p.startsWith('//') && p[2] !== '/' ? '//' : '';
  return lead + p.slice(lead.length).replace(/\/{2,}/g, '/');
}

/** Parses one pattern (variables already expanded) into a syntax tree. */
function parsePattern(p: string): Node {
  let i = 0;
  let prevSlash = false;
  const seq = (depth: number): Node => {
    const alts: Node[][] = [[]];
    let commas = 0;
    for (;;) {
      if (i >= p.length) {
        if (depth > 0) throw new GlobError(`unclosed "{" in ${p}`);
        break;
      }
      const c = p[i]!;
      const items = alts[alts.length - 1]!;
      if (c === '}' && depth > 0) { i++; if (commas === 0) throw new GlobError(`"{...}" without "," in ${p}`); break; }
      if (c === ',' && depth > 0) { i++; commas++; alts.push([]); prevSlash = false; continue; }
      if (c === '}') throw new GlobError(`"}" without "{" in ${p}`);
      if (c === '{') {
        i++; prevSlash = false;
        if (depth >= 32) throw new GlobError(`alternations nested too deep in ${p}`);
        items.push(seq(depth + 1));
        prevSlash = false;
        continue;
      }
      if (c === '*') {
        let j = i; while (p[j] === '*') j++;
        if (prevSlash && (j >= p.length || p[j] === '/')) items.push({ t: 'set', r: NON_SLASH });
        const double = p[i + 1] === '*';
        items.push({ t: 'star', r: double ? ANY : NON_SLASH });
        i += double ? 2 : 1; prevSlash = false;
        continue;
      }
      if (c === '?') { items.push({ t: 'set', r: NON_SLASH }); i++; prevSlash = false; continue; }
      if (c === '[') { items.push({ t: 'set', r: charClass() }); prevSlash = false; continue; }
      if (c === ']') throw new GlobError(`"]" without "[" in ${p}`);
      let ch = c;
      if (c === '\\') { if (i + 1 >= p.length) throw new GlobError(`trailing "\\" in ${p}`); ch = p[++i]!; }
      items.push({ t: 'set', r: [[ch.charCodeAt(0), ch.charCodeAt(0)]] });
      prevSlash = ch === '/';
      i++;
    }
    const nodes = alts.map((items): Node => ({ t: 'seq', items }));
    return nodes.length === 1 ? nodes[0]! : { t: 'alt', alts: nodes };
  };
  const charClass = (): Ranges => {
    i++;
    let neg = false;
    if (p[i] === '^') { neg = true; i++; }
    const r: Ranges = [];
    let first = true;
    for (;;) {
      if (i >= p.length) throw new GlobError(`unclosed "[" in ${p}`);
      let c = p[i]!;
      if (c === ']' && !first) { i++; break; }
      if (c === ']') throw new GlobError(`empty "[]" in ${p}`);
      first = false;
      if (c === '\\' && i + 1 < p.length) c = p[++i]!;
      let hi = c;
      if (p[i + 1] === '-' && p[i + 2] !== undefined && p[i + 2] !== ']') { hi = p[i + 2] === '\\' ? p[i + 3] ?? '' : p[i + 2]!; i += p[i + 2] === '\\' ? 3 : 2; }
      if (hi.charCodeAt(0) < c.charCodeAt(0)) throw new GlobError(`bad range ${c}-${hi} in ${p}`);
      r.push([c.charCodeAt(0), hi.charCodeAt(0)]);
      i++;
    }
    return neg ? complement(r) : normalise(r);
  };
  return seq(0);
}

/** Expands @{VAR} references to one pattern per combination of values (bounded). */
export function expandVariables(p: string, vars: ReadonlyMap<string, readonly string[]>, limit = 4096): string[] {
  const out: string[] = [];
  const go = (s: string, depth: number): void => {
    const m = /@\{([^}]*)\}/.exec(s);
    if (!m) { out.push(s); if (out.length > limit) throw new GlobError(`more than ${limit} expansions of ${p}`); return; }
    if (depth > 32) throw new GlobError(`variables nested too deep in ${p}`);
    const values = vars.get(m[1]!);
    if (!values) throw new GlobError(`variable @{${m[1]}} is not defined`);
    for (const v of values) go(s.slice(0, m.index) + v + s.slice(m.index + m[0].length), depth + 1);
  };
  go(p, 0);
  return out;
}

/** A Thompson NFA: edges by state, epsilon moves by state, one start and one accepting state. */
export interface Glob { source: string; edges: { r: Ranges; to: number }[][]; eps: number[][]; start: number; accept: number }

function build(roots: Node[], source: string): Glob {
  const g: Glob = { source, edges: [], eps: [], start: 0, accept: 0 };
  const state = (): number => { g.edges.push([]); g.eps.push([]); return g.edges.length - 1; };
  const go = (n: Node, from: number): number => {
    switch (n.t) {
      case 'set': { const s = state(); g.edges[from]!.push({ r: n.r, to: s }); return s; }
      case 'star': { const s = state(); g.eps[from]!.push(s); g.edges[s]!.push({ r: n.r, to: s }); return s; }
      case 'seq': return n.items.reduce((at, item) => go(item, at), from);
      case 'alt': {
        const end = state();
        for (const a of n.alts) { const s = state(); g.eps[from]!.push(s); g.eps[go(a, s)]!.push(end); }
        return end;
      }
    }
  };
  g.start = state();
  g.accept = state();
  for (const r of roots) { const s = state(); g.eps[g.start]!.push(s); g.eps[go(r, s)]!.push(g.accept); }
  return g;
}

/** Compiles a pattern (with its variables) to an automaton; throws GlobError on a malformed pattern. */
export function compileGlob(pattern: string, vars: ReadonlyMap<string, readonly string[]> = new Map()): Glob {
  return build(expandVariables(pattern, vars).map((p) => parsePattern(filterSlashes(p))), pattern);
}

/** The union of several automata (a host's rules for one permission). */
export function unionGlobs(globs: Glob[]): Glob {
  const g: Glob = { source: globs.map((x) => x.source).join(' | '), edges: [[], []], eps: [[], []], start: 0, accept: 1 };
  for (const x of globs) {
    const off = g.edges.length;
    for (let s = 0; s < x.edges.length; s++) {
      g.edges.push(x.edges[s]!.map((e) => ({ r: e.r, to: e.to + off })));
      g.eps.push(x.eps[s]!.map((t) => t + off));
    }
    g.eps[0]!.push(x.start + off);
    g.eps[x.accept + off]!.push(1);
  }
  return g;
}

/** Only checks that a pattern is well formed (variables taken as opaque). */
export function checkPattern(pattern: string): void {
  parsePattern(pattern.replace(/@\{[^}]*\}/g, 'V'));
}

function closure(g: Glob, states: Iterable<number>): number[] {
  const seen = new Set<number>(states);
  const stack = [...seen];
  while (stack.length > 0) for (const t of g.eps[stack.pop()!]!) if (!seen.has(t)) { seen.add(t); stack.push(t); }
  return [...seen].sort((a, b) => a - b);
}

export function matches(g: Glob, s: string): boolean {
  let cur = closure(g, [g.start]);
  for (let i = 0; i < s.length && cur.length > 0; i++) {
    const c = s.charCodeAt(i);
    cur = closure(g, cur.flatMap((st) => g.edges[st]!.filter((e) => hasChar(e.r, c)).map((e) => e.to)));
  }
  return cur.includes(g.accept);
}

const BUDGET = 200_000;
const printable = (r: Ranges): number => {
  for (const pref of [[97, 122], [48, 57], [65, 90], [33, 126]] as const) {
    const x = intersectRanges(r, [[pref[0], pref[1]]]);
    if (x.length > 0) return x[0]![0];
  }
  return r[0]![0];
};

/**
 * Breadth-first search of the product of `a` and `b` (b determinised on the fly): the shortest string that
 * leads to a pair of state sets `done` accepts. With `bMustMove`, a character that `b` cannot take is a dead end.
 */
function explore(a: Glob, b: Glob, done: (pa: number[], pb: number[]) => boolean, bMustMove: boolean): string | null {
  type Node = { pa: number[]; pb: number[]; parent: Node | null; c: number };
  const key = (pa: number[], pb: number[]): string => `${pa.join(',')}|${pb.join(',')}`;
  const first: Node = { pa: closure(a, [a.start]), pb: closure(b, [b.start]), parent: null, c: 0 };
  const seen = new Set([key(first.pa, first.pb)]);
  const queue = [first];
  for (let qi = 0; qi < queue.length; qi++) {
    const n = queue[qi]!;
    if (done(n.pa, n.pb)) return witness(n);
    // Split the characters by every edge label out of both sets, then step each class once.
    const ea = n.pa.flatMap((s) => a.edges[s]!); const eb = n.pb.flatMap((s) => b.edges[s]!);
    for (const r of classes(ea, eb)) {
      const c = printable(r);
      const pa = closure(a, ea.filter((e) => hasChar(e.r, c)).map((e) => e.to));
      const pb = closure(b, eb.filter((e) => hasChar(e.r, c)).map((e) => e.to));
      if (pa.length === 0 || (bMustMove && pb.length === 0)) continue;
      const k = key(pa, pb);
      if (seen.has(k)) continue;
      if (seen.size > BUDGET) throw new GlobError(`patterns too complex to compare: ${a.source} and ${b.source}`);
      seen.add(k);
      queue.push({ pa, pb, parent: n, c });
    }
  }
  return null;
}

/** A shortest string both patterns match, or null when they have none in common. */
export function intersect(a: Glob, b: Glob): string | null {
  return explore(a, b, (pa, pb) => pa.includes(a.accept) && pb.includes(b.accept), true);
}

/** A shortest string that `a` matches and `b` does not, or null when `b` covers `a`. */
export function difference(a: Glob, b: Glob): string | null {
  return explore(a, b, (pa, pb) => pa.includes(a.accept) && !pb.includes(b.accept), false);
}

/** The classes of characters that every label treats alike, restricted to the labels of `ea` (the driver). */
function classes(ea: { r: Ranges }[], eb: { r: Ranges }[]): Ranges[] {
  const domain = normalise(ea.flatMap((e) => e.r.map(([x, y]) => [x, y] as [number, number])));
  if (domain.length === 0) return [];
  const cuts = new Set<number>();
  for (const e of [...ea, ...eb]) for (const [x, y] of e.r) { cuts.add(x); cuts.add(y + 1); }
  for (const [x, y] of domain) { cuts.add(x); cuts.add(y + 1); }
  const points = [...cuts].sort((p, q) => p - q);
  const out: Ranges[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const piece = intersectRanges(domain, [[points[i]!, points[i + 1]! - 1]]);
    if (piece.length > 0) out.push(piece);
  }
  // Letters first, so that the shortest witness reads like a path ("/srv/www/a", not "/srv/www/!").
  const letter = (r: Ranges): number => (intersectRanges(r, [[97, 122]]).length > 0 ? 0 : 1);
  return out.sort((x, y) => letter(x) - letter(y));
}

function witness(n: { parent: unknown; c: number }): string {
  const cs: number[] = [];
  for (let x = n as { parent: unknown; c: number } | null; x && x.parent; x = x.parent as typeof x) cs.push(x.c);
  return String.fromCharCode(...cs.reverse());
}
