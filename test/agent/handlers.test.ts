import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { lockKeyOf, readServedState } from '../../src/agent/handlers.js';
import type { CommonOptions } from '../../src/config.js';
import { SimKernel } from '../../src/kernel/sim/port.js';
import { cliEnv } from '../commands/cli.js';
import { bundle, ociState } from '../support/bundle.js';
import { ANN, post } from './helpers.js';

const lockKeyOfText = (text: string) => lockKeyOf(readServedState(text));

describe('agent/handlers', () => {
  it('lockKeyOf: the named namespace, else the pod, else one shared key; none for bad JSON', () => {
    assert.equal(lockKeyOfText(JSON.stringify({ annotations: ANN })), 'ns:tenant-a');
    assert.equal(lockKeyOfText(JSON.stringify({ annotations: { ...ANN, 'lsmns.io/apparmor-namespace': 'auto' } })), 'pod:u-1');
    assert.equal(lockKeyOfText(JSON.stringify({ annotations: { 'lsmns.io/apparmor-namespace': 'auto' } })), 'lsmns:unknown-pod');
    assert.equal(lockKeyOfText(JSON.stringify({ id: 'x' })), 'lsmns:unknown-pod');
    assert.equal(lockKeyOfText('{'), null);
  });

  it('readServedState keeps the JSON error that the hook reports', () => {
    assert.deepEqual(readServedState('{"a":1}'), { doc: { a: 1 }, error: null });
    const bad = readServedState('{');
    assert.equal(bad.doc, undefined);
    assert.match(String((bad.error as Error).message), /^OCI state on stdin: not valid JSON/);
  });

  describe('a served call parses the OCI state once (lock key, gate and hook share it)', () => {
    const e = cliEnv();
    const common: CommonOptions = { backend: 'sim', simState: e.sim, securityfs: '/nonexistent', policyDir: e.policyDir, hostProfileDir: join(e.dir, 'apparmor.d'), stateDir: e.stateDir, socket: join(e.dir, 'run', 'agent.sock') };
    const quiet = { info() {}, warn() {}, error() {} };
    let agent: Agent;
    before(async () => { agent = new Agent({ common, logger: quiet, policyWaitMs: 0 }); await agent.start(); });
    after(async () => { await agent.stop(); });

    /** Counts JSON.parse calls on exactly this text while fn runs. */
    async function parsesOf(text: string, fn: () => Promise<unknown>): Promise<number> {
      const parse = JSON.parse;
      let n = 0;
      JSON.parse = ((t: string, r?: (this: unknown, k: string, v: unknown) => unknown) => { if (t === text) n++; return parse(t, r); }) as typeof JSON.parse;
      try {
        await fn();
      } finally {
        JSON.parse = parse;
      }
      return n;
    }
    const cases: [string, () => [string, string], number][] = [
      ['an unannotated container (the gate returns at once)', () => ['createRuntime', ociState(bundle(e, { foo: 'bar' }), 'c0', { foo: 'bar' })], 200],
      ['a container start that creates a namespace', () => ['createRuntime', ociState(bundle(e, ANN, 'b1'), 'c1', ANN)], 200],
      ['its stop', () => ['poststop', ociState(join(e.dir, 'b1'), 'c1', ANN)], 200],
      ['a state of the wrong shape', () => ['createRuntime', '[1,2]'], 400],
    ];
    for (const [name, make, status] of cases) {
      it(name, async () => {
        const [stage, text] = make();
        let r: { status: number; body: string } = { status: 0, body: '' };
        assert.equal(await parsesOf(text, async () => { r = await post(common.socket, `/v1/hooks/${stage}`, text); }), 1);
        assert.equal(r.status, status, r.body);
      });
    }
    it('and the sim saw the namespace come and go', async () => {
      assert.deepEqual(await new SimKernel({ path: e.sim }).listNamespaces(), []);
    });
  });
});
