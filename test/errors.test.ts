import assert from 'node:assert/strict';
import { ERROR_CODES, ExitCode, invalidInput, LsmnsError, toLsmnsError, type Problem } from '../src/errors.js';

const PROBLEM: Problem = { key: 'lsmns.io/apparmor-profile', value: '"a:b"', rule: "profile name must not contain ':'", example: 'web' };

function refused(): LsmnsError {
  return new LsmnsError({ code: 'KernelRefused', message: 'write .load: EACCES', remedy: 'run as root', exitCode: ExitCode.ApplyFailed, errno: 'EACCES', details: { path: '/sys/kernel/security/apparmor/.load' } });
}

describe('errors', () => {
  it('has the exit codes of SPEC §3', () => {
    assert.deepEqual(ExitCode, { Ok: 0, Internal: 1, InvalidInput: 2, NotPossible: 3, ApplyFailed: 4 });
  });

  it('error codes are one closed set of distinct PascalCase words (Event reasons and metric labels)', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    for (const c of ERROR_CODES) assert.match(c, /^[A-Z][a-z]+(?:[A-Z][a-z]+)*$/, c);
  });

  describe('LsmnsError', () => {
    it('carries code, message, remedy, exit code and errno; problems and details default to empty', () => {
      const e = new LsmnsError({ code: 'NotPossibleOnNode', message: 'no stacking', remedy: 'boot a newer kernel', exitCode: ExitCode.NotPossible });
      assert.ok(e instanceof Error);
      assert.deepEqual([e.name, e.code, e.message, e.remedy, e.exitCode, e.errno, e.problems, e.details, e.cause], ['LsmnsError', 'NotPossibleOnNode', 'no stacking', 'boot a newer kernel', 3, undefined, [], {}, undefined]);
    });

    it('wrap puts the context in front and keeps code, remedy, errno, problems and details; the original is the cause', () => {
      const inner = refused();
      const outer = inner.wrap('step 3 loadPolicy ns "tenant-a"');
      assert.equal(outer.message, 'step 3 loadPolicy ns "tenant-a": write .load: EACCES');
      assert.deepEqual([outer.code, outer.remedy, outer.exitCode, outer.errno, outer.details], [inner.code, inner.remedy, inner.exitCode, inner.errno, inner.details]);
      assert.equal(outer.cause, inner);
      assert.equal(inner.message, 'write .load: EACCES', 'the original is not changed');
    });

    it('wrap takes a patch for the fields a layer changes, but never the message', () => {
      const outer = refused().wrap('apply', { code: 'UnwindIncomplete', exitCode: ExitCode.ApplyFailed, message: 'ignored' });
      assert.deepEqual([outer.code, outer.message, outer.errno], ['UnwindIncomplete', 'apply: write .load: EACCES', 'EACCES']);
    });

    it('oneLine is who refused, why and the remedy, on one line however the message is broken', () => {
      const e = invalidInput('InvalidAnnotation', 'bad value\r\n"a\nb"', 'fix the annotation');
      assert.equal(e.oneLine(), 'lsmns: bad value "a b"; remedy: fix the annotation');
      assert.equal(e.oneLine('lsmns hook createRuntime'), 'lsmns hook createRuntime: bad value "a b"; remedy: fix the annotation');
    });

    it('toJSON has code, message, remedy and exit code, and errno, problems and details only when set', () => {
      assert.deepEqual(new LsmnsError({ code: 'PolicyNotFound', message: 'm', remedy: 'r', exitCode: ExitCode.InvalidInput }).toJSON(), { code: 'PolicyNotFound', message: 'm', remedy: 'r', exitCode: 2 });
      const e = invalidInput('InvalidAnnotation', 'm', 'r', [PROBLEM], { ref: 'pod.json' });
      assert.deepEqual(e.toJSON(), { code: 'InvalidAnnotation', message: 'm', remedy: 'r', exitCode: 2, problems: [PROBLEM], details: { ref: 'pod.json' } });
    });

    it('toJSON nests an LsmnsError cause whole, and of any other Error only its message', () => {
      const wrapped = refused().wrap('ns "tenant-a"').toJSON();
      assert.deepEqual(wrapped.cause, refused().toJSON());
      assert.equal(wrapped.errno, 'EACCES');
      const fromError = new LsmnsError({ code: 'Internal', message: 'm', remedy: 'r', exitCode: ExitCode.Internal, cause: Object.assign(new Error('boom'), { stack: 'secret stack' }) });
      assert.deepEqual(fromError.toJSON().cause, { message: 'boom' });
      assert.equal(new LsmnsError({ code: 'Internal', message: 'm', remedy: 'r', exitCode: ExitCode.Internal, cause: 'a string' }).toJSON().cause, undefined);
    });

    it('toJSON survives JSON.stringify, as --output json prints it', () => {
      const e = refused().wrap('ctx');
      assert.deepEqual(JSON.parse(JSON.stringify(e)), e.toJSON());
    });
  });

  describe('toLsmnsError', () => {
    it('passes an LsmnsError through unchanged', () => {
      const e = refused();
      assert.equal(toLsmnsError(e), e);
    });

    for (const [name, thrown, message] of [['an Error', new TypeError('x is undefined'), 'internal error: x is undefined'], ['a string', 'oops', 'internal error: oops'], ['undefined', undefined, 'internal error: undefined']] as const) {
      it(`makes ${name} an internal error (exit 1), a bug to report, with the original as the cause`, () => {
        const e = toLsmnsError(thrown);
        assert.deepEqual([e.code, e.exitCode, e.message, e.cause], ['Internal', ExitCode.Internal, message, thrown]);
        assert.match(e.remedy, /bug in lsmns; report it/);
      });
    }
  });

  it('invalidInput is exit 2 with every problem', () => {
    const e = invalidInput('InvalidAnnotation', 'invalid lsmns input', 'fix the annotations', [PROBLEM, { ...PROBLEM, key: 'lsmns.io/host-profile' }]);
    assert.deepEqual([e.code, e.exitCode, e.problems.map((p) => p.key)], ['InvalidAnnotation', 2, ['lsmns.io/apparmor-profile', 'lsmns.io/host-profile']]);
  });
});
