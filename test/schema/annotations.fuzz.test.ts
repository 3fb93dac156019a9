// Fuzzing the annotation schema (issue 16, "What to build" 6): any annotation map, however hostile, is read
// without a crash, refused only with typed problems, and every name it accepts is safe for paths and /proc writes.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTAINER_PREFIX, Keys, readSpec } from '../../src/schema/annotations.js';
import { fuzzRuns } from '../fuzz.js';

/** What a name may be once accepted: it becomes a securityfs directory, a profile name and a label in a /proc write. */
const SAFE = /^[A-Za-z][A-Za-z0-9._-]{0,199}$/;
const safe = (s: string) => SAFE.test(s) && !s.includes('..');

const hostileChars = fc.constantFrom('/', '..', ':', '//', '&', '\n', '\0', ' ', '\u0456', '\u202e', '%2e', '*', '^', '(', '"', '\\', 'a', 'Z', '9', '.', '-', '_');
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.array(hostileChars, { maxLength: 20 }).map((a) => a.join('')),
  fc.constantFrom('auto', 'unconfined', 'bounded', 'none', 'apparmor', 'cluster/x', 'web', 'tenant-a', 'a'.repeat(201)),
);
const key = fc.oneof(
  fc.constantFrom(...Object.values(Keys)),
  fc.string({ maxLength: 20 }).map((s) => CONTAINER_PREFIX + s),
  fc.string({ maxLength: 20 }).map((s) => `lsmns.io/${s}`),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const annotations = fc.dictionary(key, fc.oneof({ weight: 9, arbitrary: value }, { weight: 1, arbitrary: fc.anything() }), { maxKeys: 12 });

describe('schema/annotations fuzzing', function () {
  this.timeout(0);
  it('readSpec never throws, refuses only with typed problems, and accepts only safe names', () => {
    fc.assert(fc.property(annotations, (ann) => {
      const r = readSpec(ann as Record<string, unknown>);
      if (r.status === 'invalid') {
        assert.ok(r.problems.length > 0);
        for (const p of r.problems) for (const f of ['key', 'value', 'rule', 'example'] as const) assert.equal(typeof p[f], 'string');
        return;
      }
      if (r.status === 'absent') return;
      const s = r.spec;
      const names = [s.profile, ...(s.hostProfile ? [s.hostProfile] : []), ...Object.values(s.containerProfiles), ...(s.namespace.kind === 'named' ? [s.namespace.name] : [])];
      if (s.policy) names.push(s.policy.ref.replace(/^cluster\//, ''));
      for (const n of names) assert.ok(safe(n), `accepted unsafe name ${JSON.stringify(n)}`);
      for (const c of Object.keys(s.containerProfiles)) assert.match(c, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }), { numRuns: fuzzRuns() });
  });
});
