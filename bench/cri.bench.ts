// One pod lifecycle through containerd 1.6's CRI plugin, as kubelet drives it, on nodes laid out by
// `lsmns install --root DIR` (SPEC §7, node-install issue): the default handler, handler lsmns served (the agent
// prepares the bundle and serves the hooks, the static client calls it) and handler lsmns standalone (a Node
// shim and Node hooks per container), interleaved in one containerd so that load drift hits all three alike.

import { renderContainerdHandler } from '../src/install/runtime-handler.js';
import { CriLab, criAvailable, installedNode } from '../test/cri/lab.js';
import { median } from './util.js';
import type { BenchModule } from './run.js';

const SAMPLES = 9;
const WARM = 2;

/** One pod lifecycle: sandbox, a container that exits, teardown. */
async function lifecycle(lab: CriLab, handler: string, n: number): Promise<number> {
  const t0 = performance.now();
  const sb = lab.sandboxConfig({ name: `b${n}`, uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, namespace: 'team-a', annotations: { 'lsmns.io/apparmor-namespace': 'auto', 'lsmns.io/apparmor-profile': 'p', 'lsmns.io/apparmor-policy': 'web' } });
  const { pod_sandbox_id } = await lab.call('RunPodSandbox', { config: sb, runtime_handler: handler });
  const { container_id } = await lab.call('CreateContainer', { pod_sandbox_id, config: lab.containerConfig({ cmd: 'true' }), sandbox_config: sb });
  await lab.call('StartContainer', { container_id });
  for (let i = 0; i < 400; i++) {
    if ((await lab.call('ContainerStatus', { container_id })).status.state === 'CONTAINER_EXITED') break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await lab.call('RemoveContainer', { container_id });
  await lab.call('StopPodSandbox', { pod_sandbox_id });
  await lab.call('RemovePodSandbox', { pod_sandbox_id });
  return performance.now() - t0;
}

const bench: BenchModule = {
  title: 'containerd CRI pod lifecycle on nodes laid out by lsmns install',
  async run() {
    const why = criAvailable();
    if (why) { console.log(`  skipped (${why})`); return; }
    const served = await installedNode('lsmns-bench-served-', 'served');
    const standalone = await installedNode('lsmns-bench-standalone-', 'standalone');
    // Two handlers in one containerd: lsmns (served, as install printed it) and lsmns-standalone (the other node's front).
    const front = /BinaryName = "([^"]+)"/.exec(standalone.handler)![1]!;
    const lab = new CriLab({ handler: `${served.handler}\n${renderContainerdHandler(2, { handler: 'lsmns-standalone', shimPath: front })}`, nodeEnv: true });
    await lab.start();
    try {
      const handlers = { default: '', served: 'lsmns', standalone: 'lsmns-standalone' };
      const t: Record<string, number[]> = { default: [], served: [], standalone: [] };
      let n = 0;
      for (let i = 0; i < SAMPLES + WARM; i++) {
        for (const [k, h] of Object.entries(handlers)) {
          const ms = await lifecycle(lab, h, n++);
          if (i >= WARM) t[k]!.push(ms);
        }
      }
      const d = median(t.default!);
      const s = median(t.served!);
      const a = median(t.standalone!);
      console.log(`  containerd 1.6 CRI, one pod lifecycle (sandbox + a container that exits), median of ${SAMPLES}, sim backend, interleaved:`);
      console.log(`  ${'default handler'.padEnd(44)} ${d.toFixed(1).padStart(8)} ms  1.00x`);
      console.log(`  ${'handler lsmns, served (static client)'.padEnd(44)} ${s.toFixed(1).padStart(8)} ms  ${(s / d).toFixed(2)}x  (limit 1.15x: ${s / d <= 1.15 ? 'ok' : 'OVER'})`);
      console.log(`  ${'handler lsmns, standalone (Node shim, hooks)'.padEnd(44)} ${a.toFixed(1).padStart(8)} ms  ${(a / d).toFixed(2)}x`);
    } finally {
      await lab.cleanPods();
      await lab.stop();
      await served.stop();
      await standalone.stop();
    }
  },
};
export default bench;
