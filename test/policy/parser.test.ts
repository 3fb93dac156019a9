import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileIncludeResolver } from '../../src/policy/includes.js';
import { LIMITS, parsePolicy, PolicyError, profileNames, type IncludeResolver, type PolicyProblem } from '../../src/policy/parser.js';
import { tempDir } from '../kernel/sim/helpers.js';

/** An in-memory include tree: the parser is pure, so tests hand it files through the resolver. */
function memResolver(files: Record<string, string>): IncludeResolver {
  return (ref) => (ref.name in files ? [{ file: ref.name, text: files[ref.name]! }] : null);
}

function problemOf(text: string, resolve?: IncludeResolver): PolicyProblem {
  try {
    parsePolicy(text, 'p.aa', { resolve });
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.policyProblems[0]!;
  }
  assert.fail('expected the policy to be refused');
}

const TUNABLES = { 'tunables/global': '@{PROC}=/proc/\n@{HOME}=/home/*/ /root/\n@{HOME}+=/srv/home/\n' };

describe('policy/parser', () => {
  it('reads the language real profiles use', () => {
    const text = `abi <abi/3.0>,
#include <tunables/global>
alias /usr/ -> /mnt/usr/,
# a comment with { braces } and , commas
profile web /usr/bin/{web,web2} flags=(attach_disconnected, complain) {
  include if exists <local/web>
  /{usr/,}bin/** mrix,
  owner @{HOME}/** rwk,
  audit deny /secret/** rw,
  r /etc/hosts,
  file rw /tmp/x,
  /bin/tool Px -> other,
  "/with space/f" r,
  capability net_bind_service setuid,
  network inet stream,
  mount options=(ro, bind) /a/ -> /b/,
  umount /b/,
  pivot_root oldroot=/old/ /new/,
  signal (send receive) set=(hup, term) peer=web,
  ptrace (read) peer=unconfined,
  unix (send, receive) type=stream addr="@/tmp/.X11-unix/*",
  dbus send bus=session path=/org/a interface=org.a member={A,B} peer=(name=org.b),
  change_profile -> other,
  set rlimit nofile <= 1024,
  link subset /l -> /m,
  userns,
  io_uring sqpoll,
  owner {
    /owned r,
  }
  ^hat {
    /tmp/** rw,
  }
  profile child \\
    flags=(complain) {
    /x r,
  }
}
/usr/bin/tool {
  /** r,
}
`;
    const p = parsePolicy(text, 'web.aa', { resolve: memResolver(TUNABLES) });
    assert.deepEqual(profileNames(p), ['/usr/bin/tool', 'web', 'web//child', 'web//hat']);
    const web = p.profiles[0]!;
    assert.equal(web.attachment, '/usr/bin/{web,web2}');
    assert.deepEqual(web.flags, ['attach_disconnected', 'complain']);
    assert.deepEqual(p.variables.get('HOME'), ['/home/*/', '/root/', '/srv/home/']);
    const kinds = web.rules.map((r) => r.kind);
    assert.deepEqual(kinds, ['file', 'file', 'file', 'file', 'file', 'file', 'file', 'capability', 'network', 'mount', 'umount', 'pivot_root',
      'signal', 'ptrace', 'unix', 'dbus', 'change_profile', 'rlimit', 'link', 'userns', 'io_uring', 'file']);
    const owned = web.rules[1]!;
    assert.deepEqual([owned.qual.owner, owned.pos.line, owned.pos.column], ['owner', 8, 3]);
    assert.deepEqual(web.rules[2]!.qual, { audit: true, deny: true, owner: 'any' });
    assert.deepEqual(web.rules[3], { ...web.rules[3], path: '/etc/hosts', perms: 'r' });
    assert.deepEqual(web.rules[5], { ...web.rules[5], path: '/bin/tool', perms: 'Px', target: 'other' });
    assert.equal((web.rules[6] as { path: string }).path, '/with space/f');
    const signal = web.rules[12] as { perms: string[]; conds: { key: string; value: string[] }[] };
    assert.deepEqual(signal.perms, ['send', 'receive']);
    assert.deepEqual(signal.conds.map((c) => [c.key, c.value]), [['set', ['hup', 'term']], ['peer', ['web']]]);
    assert.equal(web.rules[21]!.qual.owner, 'owner', 'a qualifier block applies to its rules');
    assert.deepEqual(p.includes.map((i) => [i.name, i.ifExists, i.files]), [['tunables/global', false, ['tunables/global']], ['local/web', true, []]]);
  });

  it('names namespaced profiles as apparmor_parser -N does', () => {
    assert.deepEqual(profileNames(parsePolicy('profile :ns:x {\n  profile c {\n  }\n}\n', 'n')), [':ns://x', ':ns://x//c']);
  });

  it('splices included rules in, each placed in its own file', () => {
    const p = parsePolicy('profile a {\n  include <abstractions/x>\n}\n', 'a.aa', { resolve: memResolver({ 'abstractions/x': '\n\n  /from/x r,\n' }) });
    assert.deepEqual(p.profiles[0]!.rules.map((r) => [r.pos.file, r.pos.line]), [['abstractions/x', 3]]);
  });

  // Each refused policy names the line and column apparmor_parser would complain about.
  const REFUSED: [string, string, number, number, RegExp][] = [
    ['unterminated brace', 'profile a {\n  /x r,\n', 3, 1, /not closed/],
    ['missing comma', 'profile a {\n  /x r\n}\n', 3, 1, /expected .*","/],
    ['bad permission', 'profile a {\n  /x rz,\n}\n', 2, 3, /invalid file permission "z"/],
    ['w with a', 'profile a {\n  /x wa,\n}\n', 2, 3, /mutually exclusive/],
    ['bare x', 'profile a {\n  /x x,\n}\n', 2, 3, /exec qualifier/],
    ['deny ix', 'profile a {\n  deny /x ix,\n}\n', 2, 3, /plain "x"/],
    ['bad capability', 'profile a {\n  capability foo,\n}\n', 2, 3, /invalid capability foo/],
    ['bad network', 'profile a {\n  network foo,\n}\n', 2, 3, /invalid network entry foo/],
    ['bad flag', 'profile a flags=(bogus) {\n}\n', 1, 1, /invalid profile flag bogus/],
    ['duplicate profile', 'profile a {\n}\nprofile a {\n}\n', 3, 1, /defined twice/],
    ['one-item alternation', 'profile a {\n  /x/{a} r,\n}\n', 2, 3, /without ","/],
    ['unclosed class', 'profile a {\n  /x/[ab r,\n}\n', 2, 3, /unclosed "\["/],
    ['undefined variable', 'include <tunables/global>\nprofile a {\n  @{NOPE}/x r,\n}\n', 3, 3, /@\{NOPE\} is used but never defined/],
    ['append before define', '@{X}+=/a\n', 1, 1, /before it is defined/],
    ['missing include', 'profile a {\n  include <abstractions/nope>\n}\n', 2, 3, /could not open include <abstractions\/nope>/],
    ['rule outside a profile', '/x r,\n', 1, 1, /outside a profile/],
    ['NUL byte', 'profile a {\n  /x\u0000 r,\n}\n', 2, 5, /NUL/],
  ];
  for (const [name, text, line, column, message] of REFUSED) {
    it(`refuses ${name} at ${line}:${column}`, () => {
      const p = problemOf(text, memResolver(TUNABLES));
      assert.deepEqual([p.file, p.line, p.column], ['p.aa', line, column], p.message);
      assert.match(p.message, message);
    });
  }

  it('accepts an include that is missing when it says "if exists", and leaves includes unread without a resolver', () => {
    assert.equal(parsePolicy('profile a {\n  include if exists <local/a>\n}\n', 'a', { resolve: memResolver({}) }).profiles.length, 1);
    const p = parsePolicy('include <tunables/global>\nprofile a {\n  @{HOME}/x r,\n}\n', 'a');
    assert.deepEqual(p.includes[0]!.files, []);
  });
});

describe('policy/parser on hostile input (bounded, clean refusal with a position)', function () {
  this.timeout(30_000);
  const dir = tempDir('lsmns-hostile-policy-');
  const files = fileIncludeResolver([dir]);
  writeFileSync(join(dir, 'loop-a'), 'include <loop-b>\n');
  writeFileSync(join(dir, 'loop-b'), '\ninclude <loop-a>\n');
  const CASES: [string, () => string, RegExp, number?][] = [
    ['a file over the size limit', () => `profile a {\n${'  /x r,\n'.repeat(LIMITS.fileBytes / 8 + 1)}}\n`, /larger than/],
    ['a 1 MB line', () => `profile a {\n  /${'a'.repeat(1 << 20)} r,\n}\n`, /larger than/, 1],
    ['a 100 kB line', () => `profile a {\n  /${'a'.repeat(100 << 10)} r,\n}\n`, /line longer than/, 2],
    ['deep nesting', () => `${'profile a {\n'.repeat(10_000)}`, /nesting deeper than/, LIMITS.nesting + 1],
    ['deep alternation nesting', () => `profile a {\n  /${'{'.repeat(5000)}\n}\n`, /nesting deeper than/, 2],
    ['unterminated braces', () => 'profile a {\n  profile b {\n    /x r,\n', /not closed/, 4],
    ['NUL bytes', () => '\u0000'.repeat(1000), /NUL/, 1],
    ['an include loop', () => 'include <loop-a>\n', /include loop/],
    ['an include of /dev/zero', () => 'include "/dev/zero"\n', /not a regular file/, 1],
    ['1 MB of small profiles', () => 'profile a { /x r, }\n'.repeat(LIMITS.fileBytes / 20 - 1), /defined twice/, 2],
  ];
  for (const [name, make, message, line] of CASES) {
    it(name, () => {
      const text = make();
      const t0 = process.hrtime.bigint();
      const rss0 = process.memoryUsage().rss;
      let err: unknown;
      try { parsePolicy(text, 'hostile.aa', { resolve: files }); } catch (e) { err = e; }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.ok(err instanceof PolicyError, `refused with a PolicyError, got ${String(err)}`);
      assert.equal(err.exitCode, 2);
      const p = err.policyProblems[0]!;
      assert.match(p.message, message);
      if (line !== undefined) assert.equal(p.line, line);
      assert.ok(p.line >= 1 && p.column >= 1, `${p.line}:${p.column}`);
      assert.match(err.message, /^\S+:\d+:\d+: /, 'file:line:col');
      assert.ok(ms < 10_000, `took ${ms} ms`);
      assert.ok(process.memoryUsage().rss - rss0 < 512 << 20, 'bounded memory');
    });
  }
});
