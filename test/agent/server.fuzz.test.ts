// Fuzzing the agent's HTTP request parsing (issue 16, "What to build" 6): raw requests with random methods,
// paths (percent-encodings included), headers and bodies, written whole, byte by byte with pauses, or cut off by
// a half-close. The agent answers each one it can parse with a 2xx or 4xx and an exit-code header, never a 500,
// and stays up: /healthz answers after every run.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { lockKeyOf, readServedState, type ServedState } from '../../src/agent/handlers.js';
import { AgentServer, type HookHandler, type Logger } from '../../src/agent/server.js';
import { toLsmnsError } from '../../src/errors.js';
import { ociStateOf } from '../../src/oci/spec.js';
import { tempDir } from '../kernel/sim/helpers.js';
import { fuzzRuns } from '../fuzz.js';

const quiet: Logger = { info() {}, warn() {}, error() {} };

/** The agent's own state reader behind the transport: what a hook call does first with the body. */
const parsing: HookHandler<ServedState> = async (_stage, served) => {
  try {
    if (served.error !== null) throw served.error;
    ociStateOf(served.doc);
    return { exitCode: 0, message: '' };
  } catch (e) {
    const err = toLsmnsError(e);
    return { exitCode: err.exitCode, message: err.oneLine(), error: err.toJSON() };
  }
};

interface Req { method: string; path: string; body: string; headers: string[]; split: number[]; halfClose: boolean }

/** Sends raw bytes in the given pieces (a pause between each), optionally half-closing early; the raw answer. */
function send(socket: string, raw: Buffer, split: number[], halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let out = '';
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.setTimeout(8000, () => s.destroy());
    s.on('connect', async () => {
      let at = 0;
      for (const n of split) {
        if (at >= raw.length) break;
        s.write(raw.subarray(at, at + n));
        at += n;
        await new Promise((r) => setTimeout(r, 1));
      }
      if (!halfClose) s.write(raw.subarray(at));
      s.end();
    });
  });
}

const token = fc.stringMatching(/^[A-Z]{1,8}$/);
const pathPart = fc.oneof(
  fc.constantFrom('createRuntime', 'prestart', 'poststop', '%', '%zz', '%E0%A4%A', '%C0%80', '%00', '..', '%2F', '%2e%2e', 'rm%20-rf', ''),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.stringMatching(/^[!-~]{0,12}$/).map((s) => s.replace(/[\s#?]/g, '')),
);
const request: fc.Arbitrary<Req> = fc.record({
  method: fc.oneof(fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'), token),
  path: fc.oneof(
    pathPart.map((p) => `/v1/hooks/${p}`),
    fc.tuple(pathPart, pathPart).map(([a, b]) => `/${a}/${b}`),
    fc.constantFrom('/healthz', '/v1/shim/prepare', '//', '/v1/hooks/', '*'),
  ),
  body: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json(),
    fc.constant(JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', bundle: '/b', annotations: { 'lsmns.io/apparmor-namespace': 'x' } })),
    fc.integer({ min: 1, max: 3000 }).map((n) => `{"ociVersion":"1","id":"c","status":"s","bundle":"/b","x":${'['.repeat(n)}${']'.repeat(n)}}`),
  ),
  headers: fc.array(fc.constantFrom('Accept: application/json', 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 999999999', 'Expect: 100-continue', 'X: \u00ff'), { maxLength: 3 }),
  split: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 4 }),
  halfClose: fc.boolean(),
});

function raw(r: Req): Buffer {
  const body = Buffer.from(r.body, 'utf8');
  const custom = r.headers.some((h) => /^(Content-Length|Transfer-Encoding)/.test(h));
  const head = [`${r.method} ${r.path} HTTP/1.1`, 'Host: lsmns', ...r.headers, ...(custom ? [] : [`Content-Length: ${body.length}`]), 'Connection: close', '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

describe('agent/server fuzzing', function () {
  this.timeout(0);
  let a: AgentServer<ServedState>;
  let socket: string;
  before(async () => {
    socket = join(tempDir('lsmns-agent-fuzz-'), 'agent.sock');
    a = new AgentServer({ socket, read: readServedState, handler: parsing, stages: ['createRuntime', 'prestart', 'poststop'], logger: quiet, lockKey: lockKeyOf, maxBodyBytes: 64 * 1024 });
    await a.start();
  });
  after(() => a.stop());

  it('answers every request it can parse with 2xx or 4xx and the exit code, never 5xx, and stays up', async () => {
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const answer = await send(socket, raw(r), r.split, r.halfClose);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      if (status !== undefined) {
        assert.ok(!status.startsWith('5'), `${r.method} ${r.path}: ${answer.slice(0, 300)}`);
        // Node's parser answers malformed HTTP itself (400, no header); every answer of lsmns carries the exit code.
        if (/X-Lsmns-Exit-Code/i.test(answer)) assert.match(answer, /X-Lsmns-Exit-Code: [0234]\r\n/i);
      }
      const health = await send(socket, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), [], false);
      assert.match(health, /^HTTP\/1\.1 200/);
    }), { numRuns: fuzzRuns() });
  });
});
