// Fuzzing the OCI state and config.json readers (issue 16, "What to build" 6): any text is either read or
// refused with exit 2 (InvalidOciState, InvalidBundle), never a crash or exit 1.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LsmnsError } from '../../src/errors.js';
import { parseOciConfig, parseOciState } from '../../src/oci/spec.js';
import { fuzzRuns } from '../fuzz.js';

const STATE = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 4242, bundle: '/run/b', annotations: { 'lsmns.io/apparmor-namespace': 'x' } };
const CONFIG = { ociVersion: '1.0.2', process: { apparmorProfile: 'p' }, annotations: { a: 'b' }, hooks: { poststop: [{ path: '/bin/true' }] } };

/** A valid document with one field replaced by anything, or nested deep, or cut short. */
function mutated(doc: Record<string, unknown>): fc.Arbitrary<string> {
  const fields = Object.keys(doc);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...fields), fc.anything()).map(([k, v]) => JSON.stringify({ ...doc, [k]: v }) ?? 'null'),
    fc.tuple(fc.constantFrom(...fields), fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":')).map(([k, n, open]) => {
      const close = open === '[' ? ']' : '}';
      return JSON.stringify({ ...doc, [k]: 0 }).replace(`"${k}":0`, `"${k}":${open.repeat(n)}${open === '[' ? '' : '0'}${close.repeat(n)}`);
    }),
    fc.nat().map((n) => JSON.stringify(doc).slice(0, n % (JSON.stringify(doc).length + 1))),
  );
}

const text = (doc: Record<string, unknown>) => fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json(), mutated(doc));

function readOrRefuse(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LsmnsError, `not an LsmnsError: ${String(e)}`);
    assert.equal(e.exitCode, 2, e.message);
    assert.equal(e.code, code);
    assert.doesNotThrow(() => JSON.stringify(e.toJSON()));
  }
}

describe('oci/spec fuzzing', function () {
  this.timeout(0);
  it('parseOciState reads or refuses any text with exit 2', () => {
    fc.assert(fc.property(text(STATE), (t) => readOrRefuse(() => parseOciState(t), 'InvalidOciState')), { numRuns: fuzzRuns() });
  });
  it('parseOciConfig reads or refuses any text with exit 2', () => {
    fc.assert(fc.property(text(CONFIG), (t) => readOrRefuse(() => parseOciConfig(t, 'config.json'), 'InvalidBundle')), { numRuns: fuzzRuns() });
  });
});
