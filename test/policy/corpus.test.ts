import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileIncludeResolver } from '../../src/policy/includes.js';
import { checkPolicyText } from '../../src/policy/lint.js';
import { tempDir } from '../kernel/sim/helpers.js';

// The parser against the real one, on every profile Debian's apparmor, apparmor-profiles and
// apparmor-profiles-extra install (scripts/deps.sh installs them): the same files accepted, the same names.
// apparmor_parser runs without AppArmor in the kernel with -Q (no load), -K (no cache) and -M, the features file
// that Debian ships for exactly this (/usr/share/apparmor-features/features, also parser.conf's
// policy-features), so its verdict does not depend on the host kernel.
const FEATURES = '/usr/share/apparmor-features/features';
const DIRS = ['/etc/apparmor.d', '/usr/share/apparmor/extra-profiles'];

function corpus(): string[] {
  return DIRS.filter(existsSync).flatMap((d) => readdirSync(d).map((n) => join(d, n)).filter((f) => statSync(f).isFile())).sort();
}

function real(file: string): { ok: boolean; names: string[] } {
  const r = spawnSync('apparmor_parser', ['-N', '-M', FEATURES, file], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, names: [] };
  const q = spawnSync('apparmor_parser', ['-Q', '-K', '-M', FEATURES, file], { encoding: 'utf8' });
  return { ok: q.status === 0, names: r.stdout.split('\n').filter(Boolean) };
}

describe('policy parser vs apparmor_parser on the installed corpus', function () {
  this.timeout(120_000);
  const files = corpus();
  const resolve = fileIncludeResolver(['/etc/apparmor.d']);
  before(function () {
    try { execFileSync('apparmor_parser', ['--version'], { stdio: 'ignore' }); } catch { this.skip(); }
    if (!existsSync(FEATURES) || files.length < 100) this.skip();
  });

  it('accepts exactly the files apparmor_parser -Q -K accepts, with the names apparmor_parser -N prints', () => {
    const diffs: string[] = [];
    let accepted = 0;
    for (const f of files) {
      const want = real(f);
      const got = checkPolicyText(readFileSync(f, 'utf8'), f, { resolve });
      if (got.ok) accepted++;
      if (got.ok !== want.ok) diffs.push(`${f}: apparmor_parser ${want.ok ? 'accepts' : 'refuses'}, we ${got.ok ? 'accept' : `refuse (${JSON.stringify(got.problems[0])})`}`);
      else if (want.ok && JSON.stringify(got.profiles) !== JSON.stringify(want.names)) diffs.push(`${f}: names ${got.profiles.join(' ')} != ${want.names.join(' ')}`);
    }
    assert.deepEqual(diffs, []);
    assert.ok(files.length >= 140 && accepted >= 140, `${files.length} files, ${accepted} accepted`);
  });

  // Broken variants of real profiles, so that "refuses exactly" is tested too: each edit is applied to the
  // first rule line of every tenth installed profile, and both parsers judge the result.
  const EDITS: [string, (line: string) => string][] = [
    ['bad permission letter', (l) => l.replace(/,\s*$/, 'z,')],
    ['missing comma', (l) => l.replace(/,\s*$/, '')],
    ['undefined variable', (l) => l.replace(/^(\s*)/, '$1@{LSMNS_NOPE}/x r,\n$1')],
    ['invalid capability', (l) => l.replace(/^(\s*)/, '$1capability lsmns_nope,\n$1')],
    ['one-item alternation', (l) => l.replace(/^(\s*)/, '$1/x/{a} r,\n$1')],
    ['unclosed profile', (l) => l.replace(/^(\s*)/, '$1profile lsmns_child {\n$1')],
  ];
  it('refuses the same broken variants', () => {
    const dir = tempDir('lsmns-corpus-');
    const diffs: string[] = [];
    let refused = 0; let n = 0;
    for (const f of files.filter((_, i) => i % 10 === 0)) {
      const lines = readFileSync(f, 'utf8').split('\n');
      const at = lines.findIndex((l) => /^\s+\/\S+\s+[rwlkmix]+,\s*$/.test(l));
      if (at < 0) continue;
      for (const [name, edit] of EDITS) {
        const variant = join(dir, `${f.replace(/\W/g, '_')}-${name.replace(/\W/g, '_')}`);
        writeFileSync(variant, [...lines.slice(0, at), edit(lines[at]!), ...lines.slice(at + 1)].join('\n'));
        const want = real(variant);
        const got = checkPolicyText(readFileSync(variant, 'utf8'), variant, { resolve });
        n++;
        if (!got.ok) refused++;
        if (got.ok !== want.ok) diffs.push(`${name} in ${f}: apparmor_parser ${want.ok ? 'accepts' : 'refuses'}, we ${got.ok ? 'accept' : 'refuse'}`);
      }
    }
    assert.deepEqual(diffs, []);
    assert.ok(n >= 30 && refused === n, `${refused}/${n} refused`);
  });
});
