import assert from 'node:assert/strict';
import { labelMatches, parseLabel, renderLabel, sortComponents, stripMode, type ResolvedComponent } from '../../src/kernel/label.js';

const U = (ns: string[] = []): ResolvedComponent => ({ ns, profile: 'unconfined', mode: 'unconfined' });
const P = (ns: string[], profile: string, mode = 'enforce'): ResolvedComponent => ({ ns, profile, mode });

describe('kernel/label', () => {
  describe('parseLabel', () => {
    const cases: [string, ReturnType<typeof parseLabel>][] = [
      [':ns:p', { stack: false, components: [{ ns: 'ns', profile: 'p' }] }],
      ['&:ns:p', { stack: true, components: [{ ns: 'ns', profile: 'p' }] }],
      [':ns://p', { stack: false, components: [{ ns: 'ns', profile: 'p' }] }],
      [':ns:', { stack: false, components: [{ ns: 'ns', profile: 'unconfined' }] }],
      ['host//&:ns:p', { stack: false, components: [{ ns: null, profile: 'host' }, { ns: 'ns', profile: 'p' }] }],
      [':a//b:p', { stack: false, components: [{ ns: 'a//b', profile: 'p' }] }],
      ['', null], ['&', null], [':ns', null], ['::p', null], ['a//&', null], ['a b', null],
    ];
    for (const [text, want] of cases) it(JSON.stringify(text), () => assert.deepEqual(parseLabel(text), want));
  });

  describe('renderLabel: as the kernel prints it (KERNEL-FACTS Part A)', () => {
    const cases: { name: string; c: ResolvedComponent[]; view: string[]; want: string }[] = [
      { name: 'unconfined', c: [U()], view: [], want: 'unconfined' },
      { name: 'a namespaced profile from the root', c: [P(['testns'], 'myprofile')], view: [], want: ':testns:myprofile (enforce)' },
      { name: 'the same from inside', c: [P(['testns'], 'myprofile')], view: ['testns'], want: 'myprofile (enforce)' },
      { name: 'stacked on unconfined', c: [U(), P(['testns'], 'myprofile')], view: [], want: 'unconfined//&:testns:myprofile (enforce)' },
      { name: 'stacked on outer', c: [P([], 'outer'), P(['testns'], 'myprofile')], view: [], want: 'outer//&:testns:myprofile (enforce)' },
      { name: 'stacked, seen from inside', c: [P([], 'outer'), P(['testns'], 'myprofile')], view: ['testns'], want: 'myprofile (enforce)' },
      { name: 'a removed namespace\'s unconfined', c: [U(['busyns'])], view: [], want: ':busyns:unconfined' },
      { name: 'mixed modes', c: [P([], 'a', 'complain'), P(['n'], 'b')], view: [], want: 'a//&:n:b (mixed)' },
    ];
    for (const tc of cases) it(tc.name, () => assert.equal(renderLabel(tc.c, tc.view), tc.want));
  });

  it('sorts shallow namespaces first, then names, and drops duplicates', () => {
    const s = sortComponents([P(['n'], 'b'), P([], 'z'), P([], 'a'), P(['n'], 'b')]);
    assert.deepEqual(s.map((c) => `${c.ns.join('/')}:${c.profile}`), [':a', ':z', 'n:b']);
  });

  it('labelMatches: the tenant part must match; a bounded label accepts the runtime\'s host part', () => {
    assert.ok(labelMatches('&:ns:p', 'unconfined//&:ns:p (enforce)'));
    assert.ok(labelMatches('&:ns:p', 'cri-containerd.apparmor.d//&:ns:p (enforce)'));
    assert.ok(labelMatches('host//&:ns:p', 'host//&:ns:p (enforce)'));
    assert.ok(!labelMatches('host//&:ns:p', 'other//&:ns:p (enforce)'));
    assert.ok(!labelMatches('&:ns:p', 'unconfined (unconfined)'));
    assert.ok(!labelMatches('&:ns:p', 'x//&:evil:y//&:ns:p'));
    assert.ok(labelMatches(':ns:p', ':ns:p (enforce)'));
  });

  it('stripMode drops the mode /proc appends, and only that', () => {
    const cases: [string, string][] = [
      ['unconfined//&:ns:p (enforce)', 'unconfined//&:ns:p'],
      [':ns:p (complain)', ':ns:p'],
      ['a//&b (mixed)', 'a//&b'],
      ['unconfined', 'unconfined'],
      ['p (enforce) (enforce)', 'p (enforce)'],
      ['p (weird)', 'p (weird)'],
    ];
    for (const [seen, want] of cases) assert.equal(stripMode(seen), want, seen);
  });
});
