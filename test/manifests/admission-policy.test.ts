// The ValidatingAdmissionPolicy run, not only read: its CEL is evaluated by @bufbuild/cel (with RE2 regexes,
// as the API server's cel-go has them) the way the API server applies it (variables in order, then every
// validation; an evaluation error denies, as failurePolicy Fail does), and its verdict on a pod's annotations
// is held to the CLI's schema. No API server can run here, so this is the nearest real evaluation.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { celEnv, celError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import fc from 'fast-check';
import YAML from 'yaml';
import { Keys, readSpec } from '../../src/schema/annotations.js';
import { asciiLookalikePattern, looksLikeLsmnsKey } from '../../src/schema/confusable.js';
import { fuzzRuns } from '../fuzz.js';

interface Vap {
  kind: string;
  spec: { failurePolicy: string; variables: { name: string; expression: string }[]; validations: { expression: string; message: string }[] };
}

const FILE = fileURLToPath(new URL('../../../manifests/base/admission-policy.yaml', import.meta.url));
const vap = YAML.parseAllDocuments(readFileSync(FILE, 'utf8')).map((d) => d.toJS() as Vap).find((d) => d.kind === 'ValidatingAdmissionPolicy')!;

/** CEL takes maps as Map: a pod as the API server hands it to the policy (object), annotations included. */
function podObject(annotations: Record<string, string> | undefined): CelInput {
  const metadata = new Map<string, unknown>([['name', 'p'], ['namespace', 'team-a']]);
  if (annotations) metadata.set('annotations', new Map(Object.entries(annotations)));
  return new Map<string, unknown>([['metadata', metadata]]) as unknown as CelInput;
}

/** An expression parsed and planned once, as the API server compiles a policy once; like run(), it never throws. */
function compile(expression: string): (bindings: Record<string, CelInput>) => CelResult {
  const evaluate = plan(celEnv({ funcs: strings }), parse(expression));
  return (bindings) => {
    try {
      return evaluate(bindings);
    } catch (e) {
      return celError(e);
    }
  };
}
const variables = vap.spec.variables.map((v) => ({ name: v.name, evaluate: compile(v.expression) }));
const validations = vap.spec.validations.map((v) => ({ message: v.message, evaluate: compile(v.expression) }));

/** The messages of the validations that deny this pod; none means admitted. */
function vapDenies(annotations: Record<string, string> | undefined): string[] {
  const object = podObject(annotations);
  const vars = new Map<string, unknown>();
  const bindings = { object, variables: vars as unknown as CelInput };
  for (const v of variables) vars.set(v.name, v.evaluate(bindings));
  const denied: string[] = [];
  for (const v of validations) {
    const ok = v.evaluate(bindings);
    if (ok !== true) denied.push(ok === false ? v.message : `${v.message} (${String(ok)})`);
  }
  return denied;
}

const schemaOk = (a: Record<string, string>) => readSpec(a).status !== 'invalid';

const NS = { [Keys.namespace]: 'tenant-a' };
const HOSTILE = ['', '..', '../../etc', 'a/../b', 'a:b', 'a//b', 'a&b', 'a\nb', 'a\u0000b', 'a b', 'tab\there', 'ünï', 'caf\u00e9', '\u202eevil', '9lives', '-x', '.hidden', 'x'.repeat(201), 'ok\n', ' ok', 'a\rb', 'a\u2028b', '$(id)', 'a;b', 'a*b', 'unconfined//&:x:y'];
const GOOD = ['tenant-a', 'a', 'A.b_c-9', 'x'.repeat(200), 'auto'];

describe('manifests/base/admission-policy.yaml evaluated as CEL', () => {
  it('is the policy the API server would run: failurePolicy Fail, two variables, eleven validations', () => {
    assert.equal(vap.spec.failurePolicy, 'Fail');
    assert.deepEqual(vap.spec.variables.map((v) => v.name), ['ann', 'keys']);
    assert.equal(vap.spec.validations.length, 11);
  });

  describe('keys that only look like lsmns keys (issue 16, finding 9)', () => {
    const LOOKALIKE = /only looks like an lsmns key/;
    it('holds the lookalike pattern generated from Unicode\'s confusables table', () => {
      const rule = vap.spec.validations.find((v) => LOOKALIKE.test(v.message))!;
      assert.ok(rule.expression.includes(`k.matches('^[^/]*${asciiLookalikePattern()}')`), rule.expression);
    });
    for (const key of ['Ismns.io/apparmor-namespace', 'LSMNS.IO/apparmor-namespace', 'lsrnns.io/apparmor-namespace', '1smns.io/apparmor-namespace', 'lsmns-io/apparmor-namespace', 'lsmns.io.evil/x', 'container.Ismns.io/web']) {
      it(`denies ${key}`, () => assert.ok(vapDenies({ [key]: 'tenant-a' }).some((m) => LOOKALIKE.test(m))));
    }
    it('admits the real keys and keys that mention lsmns only after their owner', () => {
      for (const ann of [{ [Keys.namespace]: 'tenant-a', 'container.lsmns.io/web': 'unconfined' }, { 'example.com/lsmns': 'x' }, { 'app.kubernetes.io/name': 'lsmns' }] as Record<string, string>[]) assert.deepEqual(vapDenies(ann), []);
    });
    it('agrees with the webhook on every ASCII key (property)', () => {
      // Keys built mostly from lookalike characters, so that both verdicts come up often.
      const ch = fc.constantFrom(...'lLI1|sSmMrnN.-o0ia/'.split(''), 'rn', 'lsmns', 'io', '.io/');
      fc.assert(fc.property(fc.array(ch, { minLength: 1, maxLength: 12 }).map((a) => a.join('')), (key) => {
        const cel = vapDenies({ [key]: 'unconfined' }).some((m) => LOOKALIKE.test(m));
        assert.equal(cel, looksLikeLsmnsKey(key), key);
      }), { numRuns: fuzzRuns() });
    });
  });

  it('admits pods without annotations, without lsmns keys, and with valid ones', () => {
    assert.deepEqual(vapDenies(undefined), []);
    assert.deepEqual(vapDenies({ 'example.com/x': '../../etc' }), []);
    assert.deepEqual(vapDenies({ [Keys.namespace]: 'auto' }), []);
    assert.deepEqual(vapDenies({ [Keys.namespace]: 'tenant-a', [Keys.profile]: 'unconfined', [Keys.stacking]: 'none' }), []);
    const full = { [Keys.namespace]: 'tenant-a', [Keys.profile]: 'web', [Keys.policy]: 'cluster/baseline', [Keys.stacking]: 'bounded', [Keys.hostProfile]: 'outer', [Keys.displayLsm]: 'apparmor', 'container.lsmns.io/app-1': 'strict' };
    assert.deepEqual(vapDenies(full), []);
    assert.ok(schemaOk(full));
  });

  it('denies what the schema refuses, with the message for that rule', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ 'lsmns.io/apparmor-namepsace': 'x' }, /unknown lsmns\.io\/ annotation key/],
      [{ [Keys.profile]: 'web' }, /need lsmns\.io\/apparmor-namespace/],
      [{ [Keys.namespace]: '../../etc' }, /apparmor-namespace must be auto or a name/],
      [{ ...NS, [Keys.profile]: 'a:b' }, /apparmor-profile and lsmns\.io\/host-profile must be names/],
      [{ ...NS, [Keys.hostProfile]: 'x&y' }, /apparmor-profile and lsmns\.io\/host-profile must be names/],
      [{ ...NS, [Keys.policy]: 'other-team/web' }, /apparmor-policy must be NAME/],
      [{ ...NS, [Keys.stacking]: 'unbounded' }, /apparmor-stacking must be bounded or none/],
      [{ ...NS, [Keys.displayLsm]: 'selinux' }, /display-lsm must be auto, apparmor or none/],
      [{ ...NS, 'container.lsmns.io/App_1': 'p' }, /container\.lsmns\.io\/<container> needs a container name/],
      [{ ...NS, 'container.lsmns.io/app': 'p\n' }, /container\.lsmns\.io\/<container> needs a container name/],
      [{ ...NS, [Keys.profile]: 'web' }, /needs lsmns\.io\/apparmor-policy to load it/],
      [{ ...NS, 'container.lsmns.io/app': 'strict' }, /needs lsmns\.io\/apparmor-policy to load it/],
      [{ ...NS, [Keys.hostProfile]: 'outer', [Keys.stacking]: 'none' }, /must not escape host policy/],
    ];
    for (const [ann, message] of cases) {
      assert.equal(schemaOk(ann), false, `the schema refuses ${JSON.stringify(ann)}`);
      const denied = vapDenies(ann);
      assert.ok(denied.some((m) => message.test(m)), `${JSON.stringify(ann)} denied with ${message}; got ${JSON.stringify(denied)}`);
    }
  });

  it('agrees with the schema on every hostile and valid value, for every key that takes a name', () => {
    for (const key of [Keys.namespace, Keys.profile, Keys.hostProfile, Keys.policy, 'container.lsmns.io/app']) {
      for (const value of [...HOSTILE, ...GOOD, ...GOOD.map((g) => `cluster/${g}`)]) {
        const ann = { ...NS, [Keys.policy]: 'web', [key]: value };
        const cel = vapDenies(ann).length === 0;
        assert.equal(cel, schemaOk(ann), `${key}=${JSON.stringify(value)}: the policy ${cel ? 'admits' : 'denies'}, the schema ${schemaOk(ann) ? 'accepts' : 'refuses'}`);
      }
    }
  });

  it('agrees with the schema on generated annotation sets (fast-check)', () => {
    const chars = fc.constantFrom(...'aZ09._-/:&\n \u0000\u00e9.'.split(''));
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: chars, maxLength: 12 }), fc.constantFrom(...HOSTILE, ...GOOD, 'cluster/web', 'bounded', 'none', 'apparmor'));
    const key = fc.oneof(fc.constantFrom(...Object.values(Keys)), fc.constantFrom('lsmns.io/typo', 'container.lsmns.io/app', 'container.lsmns.io/Bad_Name', 'example.com/other'));
    fc.assert(fc.property(fc.dictionary(key, value, { maxKeys: 4 }), (ann) => {
      const cel = vapDenies(ann).length === 0;
      assert.equal(cel, schemaOk(ann), `${JSON.stringify(ann)}: the policy ${cel ? 'admits' : 'denies'}, the schema ${schemaOk(ann) ? 'accepts' : 'refuses'}`);
    }), { numRuns: 400 });
  });
});
