import assert from 'node:assert/strict';
import { FORMAT_VERSION, formatVersionOf } from '../src/format.js';

describe('format (one version type for every format lsmns writes)', () => {
  it('reads the current version, and the number 1 that earlier versions wrote, as the current one', () => {
    assert.equal(formatVersionOf(FORMAT_VERSION), '1');
    assert.equal(formatVersionOf(1), '1');
  });
  for (const v of ['2', 2, '1.0', null, undefined, {}]) it(`refuses ${JSON.stringify(v)}`, () => assert.equal(formatVersionOf(v), null));
});
