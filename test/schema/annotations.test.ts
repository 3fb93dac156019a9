import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keys, normalizeAnnotations, parseAnnotations, readSpec, validateAnnotations } from '../../src/schema/annotations.js';
import { MAX_NAME_BYTES } from '../../src/schema/names.js';
import { HOSTILE_VALUES, NAME_KEYS, ruleFor } from '../support/hostile.js';

const NS = Keys.namespace;

describe('schema/annotations', () => {
  describe('parse', () => {
    it('ignores keys outside lsmns.io/ and container.lsmns.io/, in sorted order', () => {
      const p = parseAnnotations({ 'z.io/x': 'y', [Keys.profile]: 'web', [NS]: 'a', 'container.lsmns.io/app': 'p', 'notlsmns.io/x': '1' });
      assert.equal(p.present, true);
      assert.deepEqual(p.entries.map((e) => [e.key, e.kind]), [['container.lsmns.io/app', 'container'], [NS, 'namespace'], [Keys.profile, 'profile']]);
    });
    it('reports absence when no lsmns key is present', () => {
      assert.deepEqual(readSpec({ foo: 'bar' }), { status: 'absent', entries: [], annotations: {} });
      assert.deepEqual(readSpec(undefined), { status: 'absent', entries: [], annotations: {} });
    });
  });

  describe('normalize', () => {
    it('fills the defaults of SPEC §1', () => {
      const r = readSpec({ [NS]: 'tenant-a' });
      assert.equal(r.status, 'ok');
      assert.deepEqual(r.status === 'ok' && r.spec, {
        schemaVersion: 1, namespace: { kind: 'named', name: 'tenant-a' }, profile: 'unconfined', policy: null,
        stacking: 'bounded', hostProfile: null, displayLsm: 'auto', containerProfiles: {},
      });
    });
    it('reads auto, cluster policies and per-container overrides', () => {
      const parsed = parseAnnotations({ [NS]: 'auto', [Keys.policy]: 'cluster/baseline', [Keys.profile]: 'web', 'container.lsmns.io/side-car': 'sidecar', [Keys.stacking]: 'none', [Keys.displayLsm]: 'apparmor' });
      assert.deepEqual(validateAnnotations(parsed), []);
      const s = normalizeAnnotations(parsed);
      assert.deepEqual(s.namespace, { kind: 'auto' });
      assert.deepEqual(s.policy, { ref: 'cluster/baseline', scope: 'cluster' });
      assert.deepEqual(s.containerProfiles, { 'side-car': 'sidecar' });
      assert.equal(s.stacking, 'none');
      assert.equal(s.displayLsm, 'apparmor');
    });
  });

  describe('validate', () => {
    // Each hostile value reaches a securityfs path or a /proc write if it gets through.
    for (const key of NAME_KEYS) {
      for (const h of HOSTILE_VALUES) {
        it(`refuses ${h.name} in ${key}`, () => {
          const r = readSpec({ [NS]: 'ok', [Keys.policy]: 'web', [key]: h.value });
          assert.equal(r.status, 'invalid');
          const p = r.status === 'invalid' ? r.problems.find((x) => x.key === key) : undefined;
          assert.ok(p, `a problem names ${key}`);
          assert.match(p.rule, ruleFor(key, h));
          assert.ok(p.example.length > 0);
          assert.doesNotMatch(p.value, /[\n\0\t]|[^\x20-\x7e]/, 'the value is escaped for printing');
        });
      }
    }
    it('escapes the value it reports', () => {
      const r = readSpec({ [NS]: 'a\nb\0c\u00e4' });
      assert.equal(r.status === 'invalid' && r.problems[0]!.value, '"a\\nb\\0c\\u{e4}"');
    });
    it('collects every problem at once', () => {
      const r = readSpec({ [Keys.profile]: 'a:b', [Keys.stacking]: 'Bounded', [Keys.displayLsm]: 'yes', 'lsmns.io/apparmor-namepsace': 'x' });
      assert.equal(r.status, 'invalid');
      const keys = r.status === 'invalid' ? r.problems.map((p) => p.key) : [];
      assert.deepEqual(keys.sort(), [Keys.displayLsm, Keys.profile, Keys.stacking, NS, 'lsmns.io/apparmor-namepsace'].sort());
    });
    it('names the missing namespace key', () => {
      const r = readSpec({ [Keys.profile]: 'unconfined' });
      assert.equal(r.status === 'invalid' && r.problems[0]!.key, NS);
      assert.match(r.status === 'invalid' ? r.problems[0]!.rule : '', /required once any lsmns\.io\//);
    });
    it('rejects unknown keys and suggests the closest', () => {
      const r = readSpec({ [NS]: 'a', 'lsmns.io/apparmor-profil': 'x' });
      const p = r.status === 'invalid' ? r.problems[0]! : null;
      assert.equal(p?.key, 'lsmns.io/apparmor-profil');
      assert.match(p!.rule, /unknown key/);
      assert.match(p!.example, /lsmns\.io\/apparmor-profile \(did you mean this\?\)/);
    });
    it('refuses stacking none together with a host profile', () => {
      const r = readSpec({ [NS]: 'a', [Keys.stacking]: 'none', [Keys.hostProfile]: 'host' });
      assert.equal(r.status === 'invalid' && r.problems[0]!.key, Keys.stacking);
    });
    it('refuses a profile that no policy loads into the new namespace', () => {
      const r = readSpec({ [NS]: 'a', [Keys.profile]: 'web', 'container.lsmns.io/db': 'db' });
      assert.deepEqual(r.status === 'invalid' && r.problems.map((p) => p.key).sort(), ['container.lsmns.io/db', Keys.profile]);
    });
    const policies: [string, RegExp | null][] = [
      ['web', null], ['cluster/baseline', null], ['team-b/web', /cannot name another namespace/], ['cluster/../x', /'\.\.'/],
      ['/etc/apparmor.d/x', /'\/'|'\/\/'/], ['cluster/a/b', /'\/'/], ['cluster/', /empty/],
    ];
    for (const [v, rule] of policies) {
      it(`policy reference ${JSON.stringify(v)} is ${rule ? 'refused' : 'accepted'}`, () => {
        const r = readSpec({ [NS]: 'a', [Keys.policy]: v });
        if (!rule) return assert.equal(r.status, 'ok');
        assert.equal(r.status, 'invalid');
        assert.match(r.status === 'invalid' ? r.problems[0]!.rule : '', rule);
      });
    }
    it('refuses invalid container names in override keys', () => {
      const r = readSpec({ [NS]: 'a', 'container.lsmns.io/Bad_Name': 'unconfined' });
      assert.match(r.status === 'invalid' ? r.problems[0]!.rule : '', /DNS-1123/);
    });
    it('refuses non-string values (from JSON)', () => {
      const r = readSpec({ [NS]: 5 as unknown as string });
      assert.match(r.status === 'invalid' ? r.problems[0]!.rule : '', /must be strings/);
    });

    it('property: any name outside [A-Za-z][A-Za-z0-9._-]* (or with "..") is refused, every valid one accepted', () => {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const r = readSpec({ [NS]: s === 'auto' ? 'auto!' : s });
        const valid = /^[A-Za-z][A-Za-z0-9._-]*$/.test(s) && !s.includes('..') && Buffer.byteLength(s) <= MAX_NAME_BYTES && s !== 'auto';
        assert.equal(r.status === 'ok', valid);
        if (r.status === 'invalid') for (const p of r.problems) assert.match(p.value, /^[\x20-\x7e]*$/);
      }), { numRuns: 2000 });
    });
  });
});
