// The node agent (SPEC §3): serves the hook logic over its socket (served hooks) and runs GC, in both modes. With
// --node the Kubernetes side (agent/kube/) runs beside them in the same process and shares start/stop; GC then
// asks it whether a namespace's pod is still on the node. The served calls keep no state of their own: every
// request opens the kernel port afresh and the sim and ownership files stay the truth, so a restart between
// createRuntime and poststop loses nothing.

import type { Server } from 'node:http';
import { pino } from 'pino';
import { livenessFromMarker } from '../apply/gc.js';
import type { CommonOptions } from '../config.js';
import type { Backend } from '../kernel/factory.js';
import { ExitCode, LsmnsError } from '../errors.js';
import { shippedHookClient } from '../install/package-files.js';
import type { KubeApi } from '../kube/client.js';
import { DEFAULT_POLICY_WAIT_MS, HOOK_STAGES } from '../oci/hook.js';
import { policyStoreOf } from '../policy/store.js';
import { escapeValue } from '../schema/names.js';
import { OrphanCollector } from './collector.js';
import { SHIM_PREPARE_PATH, hookHandler, lockKeyOf, readServedState, shimRoute, type ServedState } from './handlers.js';
import type { NodeAgent } from './kube/node-agent.js';
import { AgentServer, type Logger } from './server.js';

export interface AgentOptions {
  common: CommonOptions;
  policyWaitMs?: number;
  maxBodyBytes?: number;
  /** A listening socket handed over by systemd (LISTEN_FDS), used instead of binding common.socket. */
  listenFd?: number;
  logger?: Logger;
  /** Absolute path of lsmns-hook-client: the hooks the served shim adds to a bundle run it. */
  hookClient?: string;
  /** Opens the kernel and runtime ports for a served call (default openBackend(common)); the node guard plugs in here. */
  openBackend?: () => Promise<Backend>;
}

/** The JSON-lines logger on stderr (fd 2, synchronous so that the last lines before exit are not lost). */
export function stderrLogger(): Logger {
  return pino({ base: { pid: process.pid, name: 'lsmns-agent' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}

/** systemd socket activation: fd 3 when LISTEN_PID names this process and LISTEN_FDS hands over one socket. */
export function systemdListenFd(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  if (env.LISTEN_PID === undefined && env.LISTEN_FDS === undefined) return undefined;
  if (env.LISTEN_PID !== String(pid)) return undefined; // Meant for another process (an inherited environment).
  if (env.LISTEN_FDS !== '1') {
    throw new LsmnsError({ code: 'InvalidInput', exitCode: ExitCode.InvalidInput, message: `LISTEN_FDS=${escapeValue(env.LISTEN_FDS ?? '')}: the agent takes exactly one socket from systemd`, remedy: 'give lsmns-agent.socket a single ListenStream= line' });
  }
  return 3;
}

/** The socket server with the served hook and shim handlers. */
export class Agent {
  readonly server: AgentServer<ServedState>;
  readonly logger: Logger;

  constructor(readonly o: AgentOptions) {
    this.logger = o.logger ?? stderrLogger();
    const handler = hookHandler({ common: o.common, policyWaitMs: o.policyWaitMs ?? DEFAULT_POLICY_WAIT_MS, logger: this.logger, openBackend: o.openBackend });
    this.server = new AgentServer<ServedState>({
      socket: o.common.socket, read: readServedState, handler, stages: HOOK_STAGES, logger: this.logger, lockKey: lockKeyOf,
      ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
      ...(o.listenFd !== undefined ? { listenFd: o.listenFd } : {}),
      routes: { [SHIM_PREPARE_PATH]: shimRoute({ common: o.common, hookClient: o.hookClient ?? shippedHookClient(), logger: this.logger, openBackend: o.openBackend }) },
    });
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  /** Finishes the requests in flight and removes the socket (unless systemd owns it). */
  async stop(): Promise<void> {
    await this.server.stop();
  }
}

/** The Kubernetes side's settings (`--node` and the flags beside it). */
export interface KubeSide {
  api: KubeApi;
  nodeName: string;
  lsmnsNamespace: string;
  healthPort: number;
  /** Where the DaemonSet installs lsmns-hook-client and lsmns-runtime on the host (node facts). */
  installDir: string;
  /** Where the host's runtime configuration (/etc/containerd, /etc/crio) is seen, for lsmns.io/runtime-handler. */
  hostRoot?: string;
}

export interface RunAgentOptions extends AgentOptions {
  gc: { graceMs: number; intervalMs: number };
  kube?: KubeSide;
  /** Resolves when the agent is asked to stop (SIGTERM, SIGINT), with what asked; called before the socket serves. */
  until: () => Promise<string>;
}

/**
 * The run loop: serve the socket, start the Kubernetes side when asked, collect orphans at start and
 * periodically, and on a signal stop them all cleanly (requests in flight finish). Hooks are served from the
 * start: they do not wait for the API server, and a signal works at any point.
 */
export async function runAgent(o: RunAgentOptions): Promise<void> {
  const agent = new Agent(o);
  // Listen for the signal before the socket serves: one sent as soon as the socket appears must stop, not kill.
  const stopped = o.until();
  await agent.start();
  let kube: KubeRunning | null = null;
  const collector = new OrphanCollector({
    common: o.common, graceMs: o.gc.graceMs, intervalMs: o.gc.intervalMs, logger: agent.logger,
    // With --node, nothing is judged dead before the pod informer has listed.
    liveness: () => (o.kube ? kube?.node.liveness() ?? null : livenessFromMarker),
    onRemoved: () => kube?.node.metrics.reconciles.inc({ result: 'gc' }),
  });
  // A signal can come while the Kubernetes side is still loading or listing: whatever starts after it must not run.
  let stopping = false;
  const failed = (async () => {
    if (o.kube) {
      const k = await kubeSide(o, o.kube, agent.logger);
      if (stopping) return new Promise<never>(() => {});
      kube = k;
      await k.start();
    }
    if (!stopping) await collector.start();
    return new Promise<never>(() => {});
  })().catch((e: Error) => e);
  const end = await Promise.race([stopped, failed]);
  stopping = true;
  if (end instanceof Error) agent.logger.error({ event: 'kubernetes-failed', err: end.message });
  else agent.logger.info({ event: 'signal', signal: end, inFlight: agent.server.requestsInFlight });
  await collector.stop();
  await (kube as KubeRunning | null)?.stop();
  await agent.stop();
  if (end instanceof Error) throw end;
}

interface KubeRunning {
  node: NodeAgent;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The Kubernetes side. Its modules (the Kubernetes client, metrics) load only here, so an agent that serves
 * hooks alone stays small.
 */
async function kubeSide(o: RunAgentOptions, k: KubeSide, logger: Logger): Promise<KubeRunning> {
  const [{ OwnershipStore }, { handlerConfigured }, { openBackend }, { NodeAgent }, { closeServer, serveHealth }] = await Promise.all([
    import('../apply/ownership.js'), import('../install/runtime-handler.js'), import('../kernel/factory.js'),
    import('./kube/node-agent.js'), import('../kube/serve.js'),
  ]);
  const { common } = o;
  const backend = o.openBackend ? await o.openBackend() : await openBackend(common);
  const port = backend.kernel;
  const node = new NodeAgent({
    api: k.api, nodeName: k.nodeName, lsmnsNamespace: k.lsmnsNamespace, port, policyDir: common.policyDir,
    owners: new OwnershipStore({ stateDir: common.stateDir, backend: port.describe().backend, bootId: await port.bootId() }),
    logger,
    // Hooks run on the host: the installed client is where the DaemonSet put it, not in this image.
    installed: { hook: `${k.installDir}/lsmns-hook-client`, shim: `${k.installDir}/lsmns-runtime` }, handlerConfigured: () => handlerConfigured({ hostRoot: k.hostRoot }),
    // Ahead of the container start: the tenant lint's verdict is kept per digest, and the real kernel compiles
    // into its policy cache, so that the start only reads both.
    precompile: async (p) => {
      const { lintedProfiles } = await import('../policy/lint-cache.js');
      await lintedProfiles(p, { stateDir: common.stateDir, includeDirs: policyStoreOf(common).includeDirs });
      await port.precompile(p);
    },
    // The runtime port knows where a container's init is: a cgroup scan on a real node, the played task on the sim.
    resolvePid: (id: string) => backend.runtime.initPid(id),
  });
  let health: Server | null = null;
  let stopped = false;
  return {
    node,
    // stop() may come while start() waits (for the health port or the informers' first lists): start then stops short.
    async start() {
      const h = await serveHealth({ port: k.healthPort, registry: node.metrics.registry, notReady: () => node.notReady() });
      health = h.server;
      if (stopped) { await closeServer(health); return; }
      await node.start();
      if (!stopped) logger.info({ event: 'kubernetes', node: k.nodeName, health: h.port });
    },
    async stop() {
      stopped = true;
      await node.stop();
      await closeServer(health);
    },
  };
}
