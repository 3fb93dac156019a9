// Fuzzing the pod reader (issue 16, "What to build" 6): JSON and YAML, single and multi-document, with YAML
// alias bombs; every input is read or refused with exit 2 (InvalidPod), each within bounded time.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import YAML from 'yaml';
import { LsmnsError } from '../../src/errors.js';
import { parseDocuments, podsFromDocuments } from '../../src/schema/pod.js';
import { fuzzRuns } from '../fuzz.js';

const POD = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a', annotations: { 'lsmns.io/apparmor-namespace': 'x' } }, spec: { containers: [{ name: 'web' }] } };

/** A "billion laughs" of the given fan-out and depth: each level a list of `fan` aliases of the one before. */
const bomb = fc.tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 12 })).map(([fan, depth]) => {
  let y = `l0: &l0 [${Array(fan).fill('lol').join(', ')}]\n`;
  for (let i = 1; i <= depth; i++) y += `l${i}: &l${i} [${Array(fan).fill(`*l${i - 1}`).join(', ')}]\n`;
  return y;
});
const yamlOf = fc.anything({ maxDepth: 4 }).map((v) => { try { return YAML.stringify(v) ?? ''; } catch { return ''; } });
// Weighted so that the costly shapes (a thousand documents, thousands of levels) come up without dominating.
const input = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 6, arbitrary: fc.json() },
  { weight: 6, arbitrary: yamlOf },
  { weight: 6, arbitrary: fc.array(yamlOf, { maxLength: 5 }).map((docs) => docs.join('---\n')) },
  { weight: 1, arbitrary: fc.constant(YAML.stringify(POD)) },
  { weight: 4, arbitrary: bomb },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{a: ', '- ')).map(([n, o]) => `a: ${o.repeat(n)}x${o === '[' ? ']'.repeat(n) : o === '{a: ' ? '}'.repeat(n) : ''}\n`) },
  { weight: 1, arbitrary: fc.integer({ min: 995, max: 1005 }).map((n) => '---\na: 1\n'.repeat(n)) },
);

describe('schema/pod fuzzing', function () {
  this.timeout(0);
  it('parseDocuments + podsFromDocuments read or refuse any JSON or YAML with exit 2, in bounded time', async () => {
    await fc.assert(fc.asyncProperty(input, async (text) => {
      const t0 = Date.now();
      try {
        const docs = await parseDocuments(text, 'fuzz');
        for (const d of podsFromDocuments(docs, 'fuzz')) {
          if (!d.pod) assert.ok(d.problems.length > 0 && d.problems.every((p) => typeof p.rule === 'string'));
        }
      } catch (e) {
        assert.ok(e instanceof LsmnsError, `not an LsmnsError: ${String(e)}`);
        assert.equal(e.exitCode, 2, e.message);
        assert.equal(e.code, 'InvalidPod');
      }
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    }), { numRuns: fuzzRuns() });
  });
});
