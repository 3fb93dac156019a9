import assert from 'node:assert/strict';
import { policyPath } from '../../src/policy/store.js';

describe('policy/store', () => {
  const cases: [string, string | null, string][] = [
    ['web', 'team-a', '/etc/lsmns/policies/team-a/web.aa'],
    ['web', null, '/etc/lsmns/policies/web.aa'],
    ['cluster/baseline', 'team-a', '/etc/lsmns/policies/cluster/baseline.aa'],
    ['cluster/baseline', null, '/etc/lsmns/policies/cluster/baseline.aa'],
  ];
  for (const [ref, ns, want] of cases) it(`${ref} in ${ns ?? '(no namespace)'} -> ${want}`, () => assert.equal(policyPath(ref, ns, '/etc/lsmns/policies/'), want));
});
