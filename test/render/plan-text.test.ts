import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplyResult } from '../../src/apply/executor.js';
import type { Plan } from '../../src/plan/types.js';
import { LEGEND, renderApplyText, renderPlansText } from '../../src/render/plan-text.js';
import { caseNames, PLANS_DIR } from '../plan/golden-cases.js';

// The renderer only reads a plan's JSON form (STYLE 4): fed the golden plan.json alone, without the planner,
// it must print the golden plan.txt.
const golden = (name: string) => ({
  plan: JSON.parse(readFileSync(join(PLANS_DIR, name, 'plan.json'), 'utf8')) as Plan,
  text: readFileSync(join(PLANS_DIR, name, 'plan.txt'), 'utf8'),
});

describe('render/plan-text', () => {
  describe('renderPlansText on the golden plans', () => {
    for (const name of caseNames()) {
      it(name, () => {
        const g = golden(name);
        assert.equal(renderPlansText([g.plan]), g.text);
      });
    }

    it('the legend heads the text when a plan has steps, and only then', () => {
      for (const name of caseNames()) {
        const g = golden(name);
        assert.equal(g.text.startsWith(`${LEGEND}\n\n`), g.plan.outcome === 'ready', name);
      }
    });

    it('several plans: one legend, the plans apart by a blank line', () => {
      const [ready, invalid, noop] = ['bounded', 'hostile-annotations', 'no-annotations'].map(golden);
      const body = (t: string) => t.replace(`${LEGEND}\n\n`, '').replace(/\n$/, '');
      assert.equal(renderPlansText([ready!.plan, invalid!.plan]), `${LEGEND}\n\n${body(ready!.text)}\n\n${body(invalid!.text)}\n`);
      assert.equal(renderPlansText([invalid!.plan, noop!.plan]), `${body(invalid!.text)}\n\n${body(noop!.text)}\n`);
    });
  });

  describe('renderApplyText', () => {
    it('one line per step result with its outcome, then the tasks', () => {
      const r: ApplyResult = {
        formatVersion: '1', stage: 'create', podKey: 'uid:u-1', namespace: 'tenant-a', refs: ['web'],
        results: [
          { id: 1, kind: 'checkNode', outcome: 'done', detail: 'AppArmor active' },
          { id: 2, kind: 'createNamespace', outcome: 'noop', detail: 'reused' },
          { id: 4, kind: 'setDisplayLsm', outcome: 'skipped', detail: 'not needed' },
          { id: 6, kind: 'removeNamespace', outcome: 'not-mine', detail: 'no marker' },
          { id: 12, kind: 'loadPolicy', outcome: 'undone', detail: 'policy web in tenant-a' },
        ],
        tasks: [{ container: 'web', pid: 4242, label: '&:tenant-a:web (enforce)' }],
      };
      assert.equal(renderApplyText(r, 'the simulated kernel'), [
        'Applied stage create for uid:u-1 (namespace tenant-a) on the simulated kernel',
        '   1 checkNode           done     AppArmor active',
        '   2 createNamespace     no-op    reused',
        '   4 setDisplayLsm       skipped  not needed',
        '   6 removeNamespace     not-mine  no marker',
        '  12 loadPolicy          undone   policy web in tenant-a',
        '  task 4242 (web) runs as &:tenant-a:web (enforce)',
      ].join('\n'));
    });

    it('a result without a namespace shows a dash', () => {
      const r: ApplyResult = { formatVersion: '1', stage: 'poststop', podKey: 'uid:u-1', namespace: null, refs: [], results: [], tasks: [] };
      assert.equal(renderApplyText(r, 'securityfs'), 'Applied stage poststop for uid:u-1 (namespace -) on securityfs');
    });
  });
});
