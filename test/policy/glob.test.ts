import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, difference, GlobError, intersect, matches } from '../../src/policy/glob.js';

const PROC = new Map([['PROC', ['/proc/']], ['pid', ['{[1-9],[1-9][0-9]}']]]);

/**
 * The oracle: apparmor_parser's own conversion of a pattern to a regular expression (parser_regex.c), written
 * independently of the automata, and used by brute force over every short string of a small alphabet.
 */
function oracle(glob: string): RegExp {
  // filter_slashes: runs of "/" collapse, except a leading "//" (a distinct namespace in Linux paths).
  const lead = glob.startsWith('//') && glob[2] !== '/' ? '//' : '';
  const p = lead + glob.slice(lead.length).replace(/\/{2,}/g, '/');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      let j = i; while (p[j] === '*') j++;
      if (re.endsWith('/') && (j === p.length || p[j] === '/')) re += '[^/]';
      if (p[i + 1] === '*') { re += '[\\s\\S]*'; i++; } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') { const end = p.indexOf(']', i + 2); re += p.slice(i, end + 1).replace('/', '\\/'); i = end; }
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+()|^$\\/]/g, (m) => `\\${m}`);
  }
  return new RegExp(`^(?:${re})$`);
}

const ALPHABET = ['a', 'b', 'c', '/'];
const MAXLEN = 5;
const STRINGS: string[] = [''];
for (let n = 1, layer = ['']; n <= MAXLEN; n++) { layer = layer.flatMap((s) => ALPHABET.map((c) => s + c)); STRINGS.push(...layer); }

// Patterns over a, b and "/", with every construct: *, **, ?, [..], [^..], and nested {,} with empty items.
const atom: fc.Arbitrary<string> = fc.constantFrom('a', 'b', '/', '/', '*', '**', '?', '[ab]', '[^a]', '[^/]', '[a-b]');
const pattern: fc.Arbitrary<string> = fc.letrec<{ p: string; alt: string }>((tie) => ({
  p: fc.array(fc.oneof({ weight: 5, arbitrary: atom }, { weight: 1, arbitrary: tie('alt') }), { minLength: 1, maxLength: 5 }).map((xs) => xs.join('')),
  alt: fc.tuple(fc.oneof(fc.constant(''), tie('p')), tie('p')).map(([x, y]) => `{${x},${y}}`),
})).p;

describe('policy/glob', () => {
  const CASES: [string, string, boolean][] = [
    ['@{PROC}/sys/[^k]**', '/proc/sys/net/ipv4/ip_forward', true],
    ['@{PROC}/sys/[^k]**', '/proc/sys/kernel/shmmax', false],
    ['@{PROC}/sys/kernel/{?,??,[^s][^h][^m]**}', '/proc/sys/kernel/shmmax', false],
    ['@{PROC}/sys/kernel/{?,??,[^s][^h][^m]**}', '/proc/sys/kernel/hostname', true],
    // containerd 1.6's template: a negated class also matches "/", so this denies /proc/sys/** writes as well.
    ['@{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/**', '/proc/sys/kernel/shmmax', true],
    ['@{PROC}/{[^1-9/],[^1-9/][^0-9/],[^1-9s/][^0-9y/][^0-9s/],[^1-9/][^0-9/][^0-9/][^0-9/]*}/**', '/proc/sys/kernel/shmmax', false],
    ['@{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/**', '/proc/1/attr/current', false],
    ['/dev/pps[0-9]*', '/dev/pps0', true],
    ['/proc/', '/proc/', true],
    ['@{PROC}/@{pid}/attr/current', '/proc/42/attr/current', true],
    ['/foo/*', '/foo/', false],
    ['/foo/**', '/foo/', false],
    ['/foo/{,**}', '/foo/', true],
    ['/foo/*bar', '/foo/bar', true],
  ];
  for (const [glob, path, want] of CASES) {
    it(`${glob} ${want ? 'matches' : 'does not match'} ${path}`, () => {
      const g = compileGlob(glob, PROC);
      assert.equal(matches(g, path), want);
      const w = intersect(g, compileGlob(path));
      assert.equal(w, want ? path : null);
    });
  }

  it('refuses malformed patterns as apparmor_parser does', () => {
    for (const p of ['/x/{a}', '/x/{a,b', '/x/a}', '/x/[ab', '/x/[]', '/x/\\']) assert.throws(() => compileGlob(p), GlobError, p);
    assert.throws(() => compileGlob('@{NOPE}/x'), /not defined/);
  });

  it('intersect finds a common path exactly when brute force does (property, with a witness)', () => {
    fc.assert(fc.property(pattern, pattern, (x, y) => {
      const [rx, ry] = [oracle(x), oracle(y)];
      const w = intersect(compileGlob(x), compileGlob(y));
      const brute = STRINGS.some((s) => rx.test(s) && ry.test(s));
      if (w !== null) assert.ok(rx.test(w) && ry.test(w), `witness ${JSON.stringify(w)} matches both`);
      if (brute) assert.notEqual(w, null, 'brute force found a common path');
      if (w !== null && w.length <= MAXLEN) assert.ok(brute, `a short witness ${JSON.stringify(w)} that brute force missed`);
    }), { numRuns: 300 });
  });

  it('difference finds a path of one and not the other exactly when brute force does (property)', () => {
    fc.assert(fc.property(pattern, pattern, (x, y) => {
      const [rx, ry] = [oracle(x), oracle(y)];
      const w = difference(compileGlob(x), compileGlob(y));
      const brute = STRINGS.some((s) => rx.test(s) && !ry.test(s));
      if (w !== null) assert.ok(rx.test(w) && !ry.test(w), `witness ${JSON.stringify(w)}`);
      if (brute) assert.notEqual(w, null);
      if (w !== null && w.length <= MAXLEN) assert.ok(brute, `a short witness ${JSON.stringify(w)} that brute force missed`);
    }), { numRuns: 300 });
  });

  it('matches agrees with the oracle on every short string (property)', () => {
    fc.assert(fc.property(pattern, (x) => {
      const g = compileGlob(x); const r = oracle(x);
      for (const s of STRINGS) assert.equal(matches(g, s), r.test(s), `${x} on ${JSON.stringify(s)}`);
    }), { numRuns: 100 });
  });
});
