import assert from 'node:assert/strict';
import { hasLsmnsAnnotations, isLsmnsKey } from '../../src/schema/keys.js';

describe('schema/keys (the zero-import key list the hook gate uses)', () => {
  const keys: [string, boolean][] = [
    ['lsmns.io/apparmor-namespace', true], ['lsmns.io/typo', true], ['container.lsmns.io/web', true],
    ['lsmns.io', false], ['xlsmns.io/a', false], ['io.kubernetes.cri.sandbox-id', false], ['container.apparmor.security.beta.kubernetes.io/web', false],
  ];
  for (const [k, want] of keys) it(`${k} -> ${want}`, () => assert.equal(isLsmnsKey(k), want));
  it('an annotation map opts in when any key is an lsmns key', () => {
    assert.equal(hasLsmnsAnnotations({ a: '1', 'container.lsmns.io/x': 'p' }), true);
    assert.equal(hasLsmnsAnnotations({ a: '1' }), false);
    assert.equal(hasLsmnsAnnotations(null), false);
    assert.equal(hasLsmnsAnnotations(undefined), false);
  });
});
