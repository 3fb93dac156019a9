import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPolicyFiles, checkPolicyText, lintPolicy, renderCheckText } from '../../src/policy/lint.js';
import { PolicyError } from '../../src/policy/parser.js';
import { tempDir } from '../kernel/sim/helpers.js';

// The namespace-escape lint (issue 14 item 3): what a tenant policy may not say, with the line it says it on.
const REFUSED: [string, string, number, RegExp][] = [
  ['a namespaced profile name', 'profile :other:evil {\n}\n', 1, /:other:evil addresses a namespace/],
  ['its own namespace, named', 'profile :tenant://web {\n}\n', 1, /addresses a namespace/],
  ['a bare namespaced header', ':ns:x {\n}\n', 1, /addresses a namespace/],
  ['change_profile to a namespace', 'profile web {\n  change_profile -> :root:unconfined,\n}\n', 2, /change_profile targets a profile in another namespace/],
  ['change_profile to a stack', 'profile web {\n  change_profile /bin/x -> web//&other,\n}\n', 2, /stacked label/],
  ['px to a namespace', 'profile web {\n  /bin/x px -> :ns:y,\n}\n', 2, /exec transition targets a profile in another namespace/],
  ['Cx to a stack', 'profile web {\n  /bin/x Cx -> &y,\n}\n', 2, /exec transition targets a stacked label/],
  ['a namespace hidden in a variable', '@{T}=x :evil:y\nprofile web {\n  change_profile -> @{T},\n}\n', 3, /change_profile targets a profile in another namespace/],
  ['a child at top level', 'profile a//b {\n}\n', 1, /child profile at top level/],
  ['an include that leaves the include dirs', 'profile web {\n  include "/etc/shadow"\n}\n', 2, /leaves the include directories/],
  ['a parse error', 'profile web {\n  /x rq,\n}\n', 2, /invalid file permission/],
];
const ACCEPTED: [string, string][] = [
  ['a transition to a local profile', 'profile web {\n  /bin/x px -> helper,\n  change_profile -> helper,\n}\nprofile helper {\n}\n'],
  ['a hat', 'profile web {\n  ^h {\n  }\n}\n'],
];

describe('policy/lint', () => {
  for (const [name, text, line, message] of REFUSED) {
    it(`refuses ${name} (line ${line})`, () => {
      const r = checkPolicyText(text, 'p.aa', { as: 'tenant' });
      assert.equal(r.ok, false);
      assert.equal(r.problems[0]!.line, line);
      assert.match(r.problems[0]!.message, message);
      assert.throws(() => lintPolicy(text, 'p.aa', { includeDirs: [] }), (e: unknown) => e instanceof PolicyError && e.exitCode === 2 && message.test(e.message) && e.message.startsWith(`p.aa:${line}:`));
    });
  }
  for (const [name, text] of ACCEPTED) {
    it(`accepts ${name}`, () => assert.equal(checkPolicyText(text, 'p.aa', { as: 'tenant' }).ok, true));
  }

  it('does not read an include that leaves the include directories', () => {
    let asked = 0;
    const r = checkPolicyText('profile web {\n  include "/etc/shadow"\n}\n', 'p.aa', { as: 'tenant', resolve: () => { asked++; return [{ file: '/etc/shadow', text: 'root:x:0' }]; } });
    assert.deepEqual([r.ok, asked, r.problems[0]!.line], [false, 0, 2]);
    assert.match(r.problems[0]!.message, /leaves the include directories/);
  });

  it('does not lint a host policy for escapes', () => {
    assert.equal(checkPolicyText('profile :ns:x {\n}\n', 'h', { as: 'host' }).ok, true);
  });

  it('keeps the shape parse.ts\'s lintPolicy returned (profiles with name, mode, rules and children)', () => {
    const r = lintPolicy('profile web flags=(complain) {\n  /x   r,\n  ^h {\n    /y w,\n  }\n}\n', 'w.aa', { includeDirs: [] });
    assert.deepEqual(r.profiles.map((p) => [p.name, p.mode, p.rules, p.line, p.children.map((c) => c.name)]), [['web', 'complain', ['/x r'], 1, ['h']]]);
    assert.throws(() => lintPolicy('', 'e.aa', { includeDirs: [] }), /defines no profile/);
  });

  it('checkPolicyFiles reports every file, unreadable ones included', () => {
    const dir = tempDir('lsmns-lint-');
    writeFileSync(join(dir, 'inc'), '/from/inc r,\n');
    writeFileSync(join(dir, 'good.aa'), 'profile good {\n  include <inc>\n}\n');
    const r = checkPolicyFiles([join(dir, 'good.aa'), join(dir, 'nosuch.aa')], { as: 'tenant', includeDirs: [dir] });
    assert.deepEqual(r.files.map((f) => [f.ok, f.profiles]), [[true, ['good']], [false, []]]);
    assert.match(renderCheckText(r), /good\.aa: ok \(profiles: good\)\n.*nosuch\.aa:0:0: cannot read the policy/);
  });
});
