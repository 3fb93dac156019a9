import assert from 'node:assert/strict';
import { parseRuntimeArgs, runtimeLogLine } from '../../src/oci/runtime-args.js';
import { runtimeOf, splitArgs } from '../../src/oci/runtime-main.js';

// Command lines as containerd's runc shim, podman (conmon) and people pass them to runc and crun.
const cases: { name: string; args: string[]; want: Partial<ReturnType<typeof parseRuntimeArgs>> }[] = [
  {
    name: 'containerd shim create',
    args: ['--root', '/run/containerd/runc/k8s.io', '--log', '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/log.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc', '--pid-file', '/run/x/init.pid', 'abc'],
    want: { verb: 'create', root: '/run/containerd/runc/k8s.io', log: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/log.json', logFormat: 'json', bundle: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc', containerId: 'abc' },
  },
  {
    name: 'conmon create with a console socket and preserved fds',
    args: ['--systemd-cgroup', '--root=/run/runc', '--log-format=json', '--log=/tmp/l.json', 'create', '--bundle=/b', '--pid-file', '/p', '--console-socket', '/c.sock', '--preserve-fds', '2', '--no-pivot', 'ctr1'],
    want: { verb: 'create', root: '/run/runc', log: '/tmp/l.json', logFormat: 'json', bundle: '/b', containerId: 'ctr1', preserveFds: 2 },
  },
  { name: 'run with -b and -d', args: ['--debug', 'run', '-d', '-b', '/bx', 'x1'], want: { verb: 'run', bundle: '/bx', containerId: 'x1' } },
  { name: 'run in the working directory', args: ['run', 'x1'], want: { verb: 'run', bundle: null, containerId: 'x1' } },
  { name: 'single-dash global flags (urfave/cli)', args: ['-root', '/r', '-log', '/l', 'create', '-bundle', '/b', 'i'], want: { verb: 'create', root: '/r', log: '/l', bundle: '/b', containerId: 'i' } },
  { name: 'crun --rootless and --cgroup-manager values', args: ['--rootless', 'true', '--cgroup-manager', 'disabled', 'create', '--config', 'other.json', 'i'], want: { verb: 'create', config: 'other.json', containerId: 'i' } },
  { name: 'a value that looks like a verb is not the verb', args: ['--root', 'create', 'state', 'x'], want: { verb: 'state', root: 'create', bundle: null, containerId: null } },
  { name: 'a pass-through verb is not read further', args: ['--log', '/l', 'delete', '--force', 'x'], want: { verb: 'delete', log: '/l', bundle: null, containerId: null } },
  { name: 'no verb', args: ['--version'], want: { verb: null } },
  { name: 'an id after --', args: ['create', '--bundle', '/b', '--', '-odd'], want: { verb: 'create', bundle: '/b', containerId: '-odd' } },
];

describe('oci/runtime-args', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      const r = parseRuntimeArgs(tc.args);
      for (const [k, v] of Object.entries(tc.want)) assert.deepEqual(r[k as keyof typeof r], v, k);
    });
  }

  it('writes the refusal as a runc JSON log line, or logrus text when --log-format text', () => {
    const now = new Date('2026-01-02T03:04:05.000Z');
    assert.deepEqual(JSON.parse(runtimeLogLine('json', 'lsmns: bad "x"', now)), { level: 'error', msg: 'lsmns: bad "x"', time: '2026-01-02T03:04:05.000Z' });
    assert.deepEqual(JSON.parse(runtimeLogLine(null, 'm', now)).level, 'error');
    assert.equal(runtimeLogLine('text', 'bad "x"', now), 'time="2026-01-02T03:04:05.000Z" level=error msg="bad \\"x\\""\n');
  });

  it('splits lsmns flags from the runtime arguments at the first --', () => {
    assert.deepEqual(splitArgs(['--runtime', 'crun', '--', 'create', '--', 'x']), { own: ['--runtime', 'crun'], rt: ['create', '--', 'x'] });
  });

  it('takes runc, crun or an absolute path as the runtime, nothing else', () => {
    assert.equal(runtimeOf(undefined, {}), 'runc');
    assert.equal(runtimeOf(undefined, { LSMNS_RUNTIME: 'crun' }), 'crun');
    assert.equal(runtimeOf('/usr/sbin/runc', {}), '/usr/sbin/runc');
    for (const bad of ['sh', 'runc; rm', '../runc', '/x\n']) assert.throws(() => runtimeOf(bad, {}), (e: Error & { exitCode?: number }) => e.exitCode === 2, bad);
  });
});
