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
const input = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.json(),
  yamlOf,
  fc.array(yamlOf, { maxLength: 5 }).map((docs) => docs.join('---\n')),
  fc.constant(YAML.stringify(POD)),
  bomb,
  fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom('[', '{a: ', '- ')).map(([n, o]) => `a: ${o.repeat(n)}x${o === '[' ? ']'.repeat(n) : o === '{a: ' ? '}'.repeat(n) : ''}\n`),
  fc.integer({ min: 990, max: 1010 }).map((n) => '---\na: 1\n'.repeat(n)),
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
