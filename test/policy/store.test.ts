import assert from 'node:assert/strict';
import { policyPath } from '../../src/policy/store.js';
import type { PolicyRef } from '../../src/plan/types.js';

describe('policy/store', () => {
  const cases: [PolicyRef, string][] = [
    [{ policy: 'web', scope: 'pod-namespace', podNamespace: 'team-a' }, '/etc/lsmns/policies/team-a/web.aa'],
    [{ policy: 'web', scope: 'pod-namespace', podNamespace: null }, '/etc/lsmns/policies/web.aa'],
    [{ policy: 'cluster/baseline', scope: 'cluster', podNamespace: null }, '/etc/lsmns/policies/cluster/baseline.aa'],
    [{ policy: 'cluster/baseline', scope: 'cluster', podNamespace: 'team-a' }, '/etc/lsmns/policies/cluster/baseline.aa'],
  ];
  for (const [ref, want] of cases) it(`${ref.policy} in ${ref.podNamespace ?? '(no namespace)'} -> ${want}`, () => assert.equal(policyPath(ref, '/etc/lsmns/policies/'), want));
});
