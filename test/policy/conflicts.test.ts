import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { conflictsForPlan, findConflicts, findProfile, type Conflict } from '../../src/policy/conflicts.js';
import { conflictLine } from '../../src/render/plan-text.js';
import { fileIncludeResolver, readProfileDir } from '../../src/policy/includes.js';
import { parsePolicy } from '../../src/policy/parser.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/policy/', import.meta.url));
// The include files the fixtures read, copied from apparmor 3.0.8 so that the goldens do not drift.
const resolve = fileIncludeResolver([`${FIX}include`]);

function load(rel: string) {
  return parsePolicy(readFileSync(FIX + rel, 'utf8'), rel, { resolve });
}

/** The report as the golden stores it: file paths relative to the fixtures, one conflict per line. */
function report(cs: Conflict[]): string {
  const rel = (f: string) => f.replace(`${FIX}include/`, 'include/');
  const lines = cs.map((c) => JSON.stringify({ ...c, tenant: { ...c.tenant, file: rel(c.tenant.file) }, host: c.host && { ...c.host, file: rel(c.host.file) } }));
  return `[\n${lines.join(',\n')}\n]\n`;
}

// host file, host profile, tenant file, golden. `LSMNS_UPDATE_GOLDENS=1` rewrites the goldens (review the diff).
const CASES: [string, string, string, string][] = [
  ['hosts/cri-containerd.apparmor.d', 'cri-containerd.apparmor.d', 'tenants/web.aa', 'cri-containerd--web.json'],
  ['hosts/cri-containerd.apparmor.d', 'cri-containerd.apparmor.d', 'tenants/paper.aa', 'cri-containerd--paper.json'],
  ['hosts/bin.ping', 'ping', 'tenants/paper.aa', 'bin.ping--paper.json'],
  ['hosts/bin.ping', 'ping', 'tenants/web.aa', 'bin.ping--web.json'],
];

describe('policy/conflicts', function () {
  this.timeout(60_000);
  for (const [hostFile, hostName, tenantFile, golden] of CASES) {
    it(`${tenantFile} under ${hostName} matches ${golden}`, () => {
      const host = load(hostFile);
      const got = report(findConflicts({ policy: host, profile: findProfile(host, hostName)! }, load(tenantFile)));
      const path = `${FIX}conflicts/${golden}`;
      if (process.env.LSMNS_UPDATE_GOLDENS === '1') writeFileSync(path, got);
      assert.equal(got, readFileSync(path, 'utf8'));
    });
  }

  it('the issue\'s example: [^k]** conflicts with ip_forward, not with shmmax', () => {
    const host = parsePolicy('@{PROC}=/proc/\nprofile h {\n  file,\n  deny @{PROC}/sys/[^k]** w,\n}\n', 'h');
    const tenant = parsePolicy('profile t {\n  /proc/sys/net/ipv4/ip_forward w,\n  /proc/sys/kernel/shmmax w,\n  /proc/sys/** r,\n}\n', 't');
    const cs = findConflicts({ policy: host, profile: host.profiles[0]! }, tenant);
    assert.deepEqual(cs.map((c) => [c.tenant.line, c.host?.line, c.lost, c.example]), [[2, 4, ['w'], '/proc/sys/net/ipv4/ip_forward']]);
  });

  const OWNER: [string, string, number][] = [
    ['an owner deny hits a rule for every owner', 'profile h {\n  file,\n  deny owner /x/** w,\n}\n', 1],
    ['an owner-only allow does not grant a rule for every owner', 'profile h {\n  owner /x/** rw,\n}\n', 1],
    ['an allow for every owner grants it', 'profile h {\n  /x/** rw,\n}\n', 0],
  ];
  for (const [name, hostText, n] of OWNER) {
    it(name, () => {
      const host = parsePolicy(hostText, 'h');
      const tenant = parsePolicy('profile t {\n  /x/y w,\n}\n', 't');
      assert.equal(findConflicts({ policy: host, profile: host.profiles[0]! }, tenant).length, n);
    });
  }

  it('conflictsForPlan finds the host profile by name and warns, never throws, on what is missing', () => {
    const hostText = readFileSync(`${FIX}hosts/cri-containerd.apparmor.d`, 'utf8');
    const tenant = { file: 'web.aa', text: readFileSync(`${FIX}tenants/web.aa`, 'utf8') };
    const other = { file: 'other', text: 'profile other {\n' };
    const ok = conflictsForPlan([other, { file: 'cri', text: hostText }], 'cri-containerd.apparmor.d', tenant, resolve);
    assert.deepEqual(ok.warnings, []);
    assert.ok(ok.conflicts.length > 5);
    assert.match(conflictLine({ container: 'c', hostProfile: 'cri-containerd.apparmor.d', ...ok.conflicts[0]! }), /^c: web\.aa:\d+ ".*" \(profile web\) loses w, denied by cri:\d+ "deny .*"; write of \/proc\/sys\/net\/ipv4\/ip_forward fails with EACCES$/);
    const missing = conflictsForPlan([{ file: 'cri', text: hostText }], 'nosuch', tenant, resolve);
    assert.deepEqual([missing.conflicts, missing.warnings.length], [[], 1]);
    assert.match(missing.warnings[0]!, /host profile nosuch is not defined/);
    const dir = readProfileDir(`${FIX}hosts`);
    assert.deepEqual(dir.map((f) => f.file.replace(FIX, '')), ['hosts/bin.ping', 'hosts/cri-containerd.apparmor.d']);
    assert.equal(conflictsForPlan(dir, 'ping', tenant, resolve).warnings.length, 0);
    const bad = conflictsForPlan([{ file: 'cri', text: hostText }], 'cri-containerd.apparmor.d', { file: 'web.aa', text: 'profile web {' }, resolve);
    assert.match(bad.warnings[0]!, /policy web\.aa does not parse/);
  });
});
