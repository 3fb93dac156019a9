import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, lsmns } from './cli.js';

describe('lsmns policy check', function () {
  this.timeout(60_000);
  const e = cliEnv();
  const inc = join(e.dir, 'inc');
  before(() => {
    writeFileSync(join(e.dir, 'web.aa'), 'include <tunables/x>\nprofile web {\n  @{X}/** r,\n  ^hat {\n  }\n  profile child {\n  }\n}\n');
    writeFileSync(join(e.dir, 'evil.aa'), 'profile web {\n  change_profile -> :root:unconfined,\n}\n');
    writeFileSync(join(e.dir, 'broken.aa'), 'profile web {\n  /x r\n');
  });

  it('prints the profiles as apparmor_parser -N names them, in the issue\'s JSON shape, exit 0', () => {
    mkdirSync(join(inc, 'tunables'), { recursive: true });
    writeFileSync(join(inc, 'tunables', 'x'), '@{X}=/srv\n');
    const r = lsmns(e, ['policy', 'check', '--include-dir', inc, '--output', 'json', join(e.dir, 'web.aa')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { files: [{ file: join(e.dir, 'web.aa'), ok: true, profiles: ['web', 'web//child', 'web//hat'], problems: [] }] });
  });

  it('exits 2 when any file is refused, with line and column; --as tenant adds the escape lint', () => {
    const host = lsmns(e, ['policy', 'check', '--include-dir', inc, join(e.dir, 'evil.aa')]);
    assert.equal(host.code, 0, host.stdout);
    const r = lsmns(e, ['policy', 'check', '--as', 'tenant', '--include-dir', inc, '--output', 'json', join(e.dir, 'evil.aa'), join(e.dir, 'broken.aa')]);
    assert.equal(r.code, 2);
    const files = JSON.parse(r.stdout).files as { ok: boolean; problems: { line: number; column: number; message: string }[] }[];
    assert.deepEqual(files.map((f) => [f.ok, f.problems[0]!.line, f.problems[0]!.column]), [[false, 2, 3], [false, 3, 1]]);
    const text = lsmns(e, ['policy', 'check', '--as', 'tenant', '--include-dir', inc, join(e.dir, 'evil.aa')]);
    assert.match(text.stdout, /evil\.aa:2:3: profile web: change_profile targets a profile in another namespace/);
  });

  it('refuses hostile files cleanly (exit 2, file:line:col)', () => {
    writeFileSync(join(e.dir, 'zero.aa'), 'profile web {\n  include "/dev/zero"\n}\n');
    writeFileSync(join(e.dir, 'nul.aa'), 'profile web {\n  /x\u0000 r,\n}\n');
    const r = lsmns(e, ['policy', 'check', join(e.dir, 'zero.aa'), join(e.dir, 'nul.aa')]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /zero\.aa:2:3: include "\/dev\/zero": \/dev\/zero is not a regular file/);
    assert.match(r.stdout, /nul\.aa:2:5: NUL byte/);
  });
});
