import assert from 'node:assert/strict';
import { lintPolicy, parsePolicy } from '../../src/policy/parse.js';

const LAB = `abi <abi/3.0>,
#include <tunables/global>
@{HOME}=/home/*/ /root/
# a comment with { braces } and , commas
profile web /usr/bin/web flags=(attach_disconnected, complain) {
  #include <abstractions/base>
  /{usr/,}bin/** mrix,
  /etc/{passwd,group} r,
  deny /secret/** rw,
  @{HOME}/** r,
  change_profile,
  capability net_bind_service,
  ^hat {
    /tmp/** rw,
  }
  profile child {
    /x r,
  }
}
/usr/bin/tool {
  /** r,
}
`;

describe('policy/parse', () => {
  it('reads profiles, attachments, modes, rules and nested profiles', () => {
    const p = parsePolicy(LAB, 'lab');
    assert.deepEqual(p.profiles.map((x) => [x.name, x.attachment, x.mode]), [['web', '/usr/bin/web', 'complain'], ['/usr/bin/tool', '/usr/bin/tool', 'enforce']]);
    const web = p.profiles[0]!;
    assert.deepEqual(web.rules, ['include <abstractions/base>', '/{usr/,}bin/** mrix', '/etc/{passwd,group} r', 'deny /secret/** rw', '@{HOME}/** r', 'change_profile', 'capability net_bind_service']);
    assert.deepEqual(web.children.map((c) => c.name), ['hat', 'child']);
    assert.deepEqual(p.preamble, ['abi <abi/3.0>', 'include <tunables/global>', '@{HOME}=/home/*/ /root/']);
  });

  const broken: [string, string, RegExp][] = [
    ['an unclosed profile', 'profile a { /x r,', /not closed/],
    ['a stray brace', '}', /unbalanced/],
    ['a rule outside a profile', '/x r,\nprofile a { }', /expected a profile header|defines no profile|outside/],
    ['no profile at all', 'abi <abi/3.0>,', /defines no profile/],
    ['a missing comma', 'profile a { /x r }', /not ended|outside/],
    ['an unterminated quote', 'profile "a { }', /unterminated/],
    ['a NUL byte', 'profile a { /x r, }\0', /NUL/],
  ];
  for (const [name, text, re] of broken) it(`refuses ${name}`, () => assert.throws(() => parsePolicy(text, 't'), re));

  const lint: [string, string, RegExp][] = [
    ['a profile in another namespace', 'profile :other:evil { /** r, }', /addresses another namespace/],
    ['a profile for the root namespace', 'profile :root:x { /** r, }', /addresses another namespace/],
    ['a namespaced attachment-named profile', ':ns:/usr/bin/x { /** r, }', /addresses another namespace/],
    ['a child profile at top level', 'profile a//b { }', /child profile/],
    ['the same profile twice', 'profile a { }\nprofile a { }', /defined twice/],
  ];
  for (const [name, text, re] of lint) {
    it(`lint refuses ${name}, naming the line`, () => assert.throws(() => lintPolicy(text, 'pol.aa'), (e: Error) => re.test(e.message) && /policy pol\.aa/.test(e.message)));
  }
  it('lint accepts the lab profile', () => assert.equal(lintPolicy(LAB, 'lab').profiles.length, 2));
});
