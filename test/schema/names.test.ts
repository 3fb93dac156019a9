import assert from 'node:assert/strict';
import { containerNameRuleBroken, escapeValue, MAX_NAME_BYTES, nameRuleBroken } from '../../src/schema/names.js';

const ALLOWED = /^[A-Za-z0-9._-]$/;
const LETTER = /^[A-Za-z]$/;

describe('schema/names', () => {
  describe('nameRuleBroken (SPEC §1: what may reach a securityfs path or a /proc attr write)', () => {
    // Each forbidden shape is named by the rule an attacker would test, not only by the generic grammar.
    const cases: { name: string; value: string; rule: string }[] = [
      { name: 'empty', value: '', rule: 'name must not be empty' },
      { name: 'NUL', value: 'a\0b', rule: 'name must be printable ASCII: NUL at position 1' },
      { name: 'a newline', value: 'web\nexec', rule: 'name must be printable ASCII: a newline at position 3' },
      { name: 'a carriage return', value: 'a\rb', rule: 'name must be printable ASCII: a carriage return at position 1' },
      { name: 'a tab', value: 'a\tb', rule: 'name must be printable ASCII: a tab at position 1' },
      { name: 'an escape', value: '\u001b[31m', rule: 'name must be printable ASCII: control character U+001B at position 0' },
      { name: 'DEL', value: 'a\u007f', rule: 'name must be printable ASCII: control character U+007F at position 1' },
      { name: 'non-ASCII', value: 'tenänt', rule: 'name must be printable ASCII: non-ASCII character U+00E4 at position 3' },
      { name: 'a lookalike slash', value: 'a\u2215b', rule: 'name must be printable ASCII: non-ASCII character U+2215 at position 1' },
      { name: 'an astral character, counted as one position', value: 'a\u{1F600}b\0', rule: 'name must be printable ASCII: non-ASCII character U+1F600 at position 1' },
      { name: 'a space', value: 'a b', rule: 'name must not contain whitespace' },
      { name: 'a double slash', value: 'a//b', rule: "name must not contain '//' (it separates levels of a label or a namespace path)" },
      { name: 'path traversal', value: '..', rule: "name must not contain '..' (path traversal)" },
      { name: 'dot-dot inside', value: 'a..b', rule: "name must not contain '..' (path traversal)" },
      { name: 'a slash', value: 'a/b', rule: "name must not contain '/' (it would reach another securityfs path)" },
      { name: 'a colon', value: 'ns:evil', rule: "name must not contain ':' (it delimits a namespace in a label)" },
      { name: 'an ampersand', value: 'a&b', rule: 'name must not contain \'&\' (it means "stack" in a label)' },
      { name: 'a leading digit', value: '1abc', rule: "name must start with an ASCII letter, not '1'" },
      { name: 'a leading dot', value: '.hidden', rule: "name must start with an ASCII letter, not '.'" },
      { name: 'a leading dash (an option to a parser)', value: '-x', rule: "name must start with an ASCII letter, not '-'" },
      { name: 'a leading underscore', value: '_x', rule: "name must start with an ASCII letter, not '_'" },
      { name: 'a shell metacharacter', value: 'a$(id)', rule: "name may only contain letters, digits, '.', '_' and '-', not '$'" },
      { name: 'a glob', value: 'a*', rule: "name may only contain letters, digits, '.', '_' and '-', not '*'" },
    ];
    for (const tc of cases) {
      it(`refuses ${tc.name}`, () => assert.equal(nameRuleBroken(tc.value), tc.rule));
    }

    it('names the thing checked in the rule', () => {
      assert.equal(nameRuleBroken('a:b', 'namespace name'), "namespace name must not contain ':' (it delimits a namespace in a label)");
    });

    it('accepts names of up to 200 bytes, and says how long a longer one is', () => {
      assert.equal(MAX_NAME_BYTES, 200);
      assert.equal(nameRuleBroken(`a${'b'.repeat(MAX_NAME_BYTES - 1)}`), null);
      assert.equal(nameRuleBroken(`a${'b'.repeat(MAX_NAME_BYTES)}`), 'name must be at most 200 bytes (this one is 201)');
    });

    it('counts the length in UTF-8 bytes, not characters', () => {
      // 100 two-byte characters are 200 bytes (the non-ASCII rule refuses them); 101 are over the limit.
      assert.match(nameRuleBroken('ä'.repeat(100))!, /printable ASCII/);
      assert.equal(nameRuleBroken('ä'.repeat(101)), 'name must be at most 200 bytes (this one is 202)');
    });

    it('in the middle of a name, allows exactly letters, digits, ".", "_" and "-" of all ASCII', () => {
      for (let cp = 0; cp <= 0x7f; cp++) {
        const ch = String.fromCodePoint(cp);
        assert.equal(nameRuleBroken(`a${ch}b`) === null, ALLOWED.test(ch), `U+${cp.toString(16).padStart(4, '0')}: ${nameRuleBroken(`a${ch}b`)}`);
      }
    });

    it('as the first character, allows exactly the ASCII letters', () => {
      for (let cp = 0; cp <= 0x7f; cp++) {
        const ch = String.fromCodePoint(cp);
        assert.equal(nameRuleBroken(`${ch}a`) === null, LETTER.test(ch), `U+${cp.toString(16).padStart(4, '0')}: ${nameRuleBroken(`${ch}a`)}`);
      }
    });

    it('accepts the names the examples use', () => {
      for (const v of ['tenant-a', 'web', 'cri-containerd.apparmor.d', 'A.b_c-9', 'x']) assert.equal(nameRuleBroken(v), null, v);
    });
  });

  describe('containerNameRuleBroken (a DNS-1123 label, as Kubernetes requires)', () => {
    const cases: [string, RegExp | null][] = [
      ['app', null], ['app-1', null], ['1app', null], ['a'.repeat(63), null],
      ['', /must not be empty/], ['a'.repeat(64), /at most 63 characters \(this one is 64\)/],
      ['App', /DNS-1123 label/], ['app_1', /DNS-1123 label/], ['-app', /DNS-1123 label/], ['app-', /DNS-1123 label/], ['a.b', /DNS-1123 label/], ['a/b', /DNS-1123 label/],
    ];
    for (const [value, rule] of cases) {
      it(`${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…(${value.length})` : value)} is ${rule ? 'refused' : 'accepted'}`, () => {
        const r = containerNameRuleBroken(value);
        if (rule === null) assert.equal(r, null);
        else assert.match(r ?? '', rule);
      });
    }
  });

  describe('escapeValue (a value printed on one line, safe for a terminal and a log)', () => {
    const cases: [string, string, string][] = [
      ['plain', 'tenant-a', '"tenant-a"'],
      ['quotes and backslashes', 'a"b\\c', '"a\\"b\\\\c"'],
      ['line breaks and tabs', 'a\nb\rc\td', '"a\\nb\\rc\\td"'],
      ['NUL, ESC and DEL', 'a\0b\u001bc\u007f', '"a\\0b\\x1bc\\x7f"'],
      ['non-ASCII by code point', 'tenänt\u202e', '"ten\\u{e4}nt\\u{202e}"'],
    ];
    for (const [name, value, want] of cases) it(name, () => assert.equal(escapeValue(value), want));

    it('cuts a long value after max characters and gives its length in bytes', () => {
      assert.equal(escapeValue('x'.repeat(10), 4), '"xxxx...(10 bytes in all)"');
      assert.equal(escapeValue('ä'.repeat(5), 2), '"\\u{e4}\\u{e4}...(10 bytes in all)"');
      assert.equal(escapeValue('x'.repeat(80)), `"${'x'.repeat(80)}"`);
    });

    it('never lets a control or non-ASCII character through', () => {
      let all = '';
      for (let cp = 0; cp < 0x300; cp++) all += String.fromCodePoint(cp);
      assert.match(escapeValue(all, all.length), /^[\x20-\x7e]*$/);
    });
  });
});
