// `lsmns doctor`: the node as installed, checked line by line, each failure with its remedy. What a user runs
// first when a pod does not start. It only reads: the node configuration, the host's AppArmor, the installed
// front and client, the install manifest (hooks.d and its gate), the runtimes' live configs, the agent's
// /healthz and, given a node name, the node's labels. Everything outside the files is injected for tests.

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { DEFAULT_CONFIG, readNodeConfig, resolveOptions, type HostProbe, type NodeConfig } from '../config.js';
import { toLsmnsError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { manifestPath } from './files.js';
import { WHEN_ANNOTATIONS } from './hooks-d.js';
import { CONF_FIELD, CONF_MARKER, CLIENT, FRONT } from './layout.js';
import { HANDLER, type Runner } from './runtime-handler.js';

export interface Check {
  check: string;
  ok: boolean;
  /** What was found (ok) or what is wrong (not ok). */
  detail: string;
  remedy?: string;
}

export interface DoctorReport {
  ready: boolean;
  config: string;
  checks: Check[];
}

export interface DoctorDeps {
  env: NodeJS.ProcessEnv;
  host: HostProbe;
  run: Runner;
  /** GET /healthz on the agent's socket: null when it answered 200, else why not. */
  health: (socket: string) => Promise<string | null>;
  /** The node's labels, when a node name was given. */
  nodeLabels?: () => Promise<Record<string, string>>;
}

const ok = (check: string, detail: string): Check => ({ check, ok: true, detail });
const bad = (check: string, detail: string, remedy: string): Check => ({ check, ok: false, detail, remedy });

/** The node.conf path a front or client was installed with (the sh line or the static client's field). */
export function bakedConfig(program: Buffer): string | null {
  const at = program.indexOf(CONF_MARKER);
  if (at >= 0) {
    const field = program.subarray(at + CONF_MARKER.length, at + CONF_FIELD);
    const end = field.indexOf(0);
    return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
  }
  return /^conf_default='([^']*)'$/m.exec(program.toString('utf8'))?.[1] ?? null;
}

function programCheck(check: string, path: string, config: string): Check {
  try {
    if (!statSync(path).isFile()) return bad(check, `${path} is not a file`, 'run lsmns install again');
    accessSync(path, constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return bad(check, `${path} ${code === 'EACCES' ? 'is not executable' : `is missing (${code})`}`, code === 'EACCES' ? `chmod 0755 ${path}, or run lsmns install again` : 'run lsmns install (the DaemonSet\'s init container does it on a cluster)');
  }
  const baked = bakedConfig(readFileSync(path));
  if (baked !== null && baked !== config) return bad(check, `${path} reads ${baked}, not ${config}`, `reinstall it for this configuration: lsmns install (or set LSMNS_CONFIG=${config} for it)`);
  return ok(check, `${path} is executable${baked ? ` and reads ${baked}` : ''}`);
}

/**
 * The lsmns handler in a runtime's live config, and the binary it runs: a non-empty BinaryName in its options table,
 * else a non-empty runtime_path. A containerd dump lists `runtime_path = ""` before the options table (1.6 in double
 * quotes, 2.x in single quotes), so only the handler's own tables are read, and an empty value is no answer.
 */
function handlerIn(text: string): { table: string; binary: string | null } | null {
  const m = new RegExp(`^\\s*\\[([^\\]]*runtimes\\.${HANDLER})(\\.options)?\\]`, 'm').exec(text);
  if (!m) return null;
  const own = new RegExp(`^\\s*\\[(?![^\\]]*runtimes\\.${HANDLER}(\\.options)?\\])`, 'm');
  const rest = text.slice(m.index + m[0].length);
  const tables = text.slice(m.index, m.index + m[0].length + (own.exec(rest)?.index ?? rest.length));
  const value = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(?:"([^"]+)"|'([^']+)')`, 'm').exec(tables)?.slice(1).find((v) => v !== undefined);
  return { table: m[1]!, binary: value('BinaryName') ?? value('runtime_path') ?? null };
}

function runtimeCheck(deps: DoctorDeps, front: string, containerdConfig: string): Check {
  const seen: string[] = [];
  for (const [name, cmd, args] of [['containerd', 'containerd', ['--config', containerdConfig, 'config', 'dump']], ['CRI-O', 'crio', ['config']]] as const) {
    const r = deps.run(cmd, [...args]);
    if (r.status === null) continue;
    seen.push(name);
    const h = r.status === 0 ? handlerIn(r.stdout) : null;
    if (!h) continue;
    if (h.binary && h.binary !== front) return bad('runtime handler', `${name}'s handler ${HANDLER} runs ${h.binary}, not this node's front ${front}`, `point it at ${front}: lsmns install --containerd (or --crio) prints the handler`);
    return ok('runtime handler', `${name} has [${h.table}] running ${h.binary ?? '(default binary)'}`);
  }
  if (seen.length === 0) return bad('runtime handler', 'neither containerd nor CRI-O is on PATH', 'install a runtime, or run lsmns doctor where it runs');
  return bad('runtime handler', `no ${HANDLER} handler in the live config of ${seen.join(' or ')} (${seen.includes('containerd') ? 'containerd config dump' : 'crio config'})`, `add it: lsmns install --containerd --write (or --crio --write), then restart the runtime`);
}

/** Every file install wrote is still what it wrote; hooks.d JSON also keeps its gate. */
function manifestCheck(stateDir: string): Check[] {
  const mpath = manifestPath(stateDir);
  let m: { files: { path: string; sha256: string }[] };
  try {
    m = JSON.parse(readFileSync(mpath, 'utf8'));
  } catch (e) {
    return [bad('installed files', `${mpath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'run lsmns install')];
  }
  const out: Check[] = [];
  const hooks = m.files.filter((f) => f.path.endsWith('.json'));
  for (const f of m.files) {
    let text: Buffer;
    try {
      text = readFileSync(f.path);
    } catch (e) {
      out.push(bad('installed files', `${f.path} is missing (${(e as NodeJS.ErrnoException).code})`, 'run lsmns install again'));
      continue;
    }
    if (f.path.endsWith('.json')) {
      let when: unknown;
      try { when = (JSON.parse(text.toString('utf8')) as { when?: { annotations?: unknown } }).when?.annotations; } catch { when = null; }
      if (JSON.stringify(when) !== JSON.stringify(WHEN_ANNOTATIONS)) {
        out.push(bad('hooks.d gate', `${f.path}: when.annotations is ${JSON.stringify(when)}, not ${JSON.stringify(WHEN_ANNOTATIONS)}; containers with lsmns keys may start without the hook`, 'run lsmns install again (it refuses an edited file: move it away first)'));
        continue;
      }
    }
    if (sha256Hex(text) !== f.sha256) out.push(bad('installed files', `${f.path} was changed after lsmns install wrote it`, 'run lsmns install again (it refuses an edited file: move it away first)'));
  }
  if (!out.some((c) => c.check === 'hooks.d gate')) out.push(ok('hooks.d gate', hooks.length > 0 ? `${hooks.map((h) => h.path).join(', ')} gate on ${Object.keys(WHEN_ANNOTATIONS)[0]}` : 'no hooks.d files (containerd uses the handler)'));
  if (!out.some((c) => c.check === 'installed files')) out.push(ok('installed files', `${m.files.length} files as ${mpath} records them`));
  return out;
}

const LABELS = ['lsmns.io/apparmor', 'lsmns.io/policy-namespaces', 'lsmns.io/hook-installed', 'lsmns.io/shim-installed', 'lsmns.io/runtime-handler'];

export async function doctor(o: { config?: string; containerdConfig: string }, deps: DoctorDeps): Promise<DoctorReport> {
  const checks: Check[] = [];
  const path = o.config ?? (deps.env.LSMNS_CONFIG || DEFAULT_CONFIG);
  let file: NodeConfig | null = null;
  try {
    const f = readNodeConfig(path, {});
    file = f;
    checks.push(ok('configuration', `${path} (${Object.keys(f?.values ?? {}).length} keys)`));
  } catch (e) {
    checks.push(bad('configuration', toLsmnsError(e).message, toLsmnsError(e).remedy));
  }
  let opts;
  try {
    opts = resolveOptions({}, deps.env, file);
  } catch (e) {
    checks.push(bad('backend', toLsmnsError(e).message, toLsmnsError(e).remedy));
    return { ready: false, config: path, checks };
  }
  const aa = deps.host.appArmorEnabled();
  checks.push(aa ? ok('apparmor', `enabled, securityfs at ${opts.securityfs}`) : { check: 'apparmor', ok: opts.backend === 'sim', detail: 'not enabled (or securityfs has no apparmor/)', ...(opts.backend === 'sim' ? {} : { remedy: 'boot with AppArmor enabled (apparmor=1 security=apparmor) and securityfs mounted' }) });
  const from = { flag: 'a flag', env: 'LSMNS_BACKEND', file: path, default: 'the default' }[opts.backendFrom];
  if (opts.backend === 'sim' && aa) checks.push(bad('backend', `sim (from ${from}) on a host where AppArmor is enabled: containers would start under the runtime's default profile while lsmns reports them confined`, `set LSMNS_BACKEND=securityfs in ${path}`));
  else if (opts.backendFrom === 'default') checks.push(bad('backend', 'none configured', `run lsmns install (it writes ${path})`));
  else checks.push(ok('backend', `${opts.backend} (from ${from})`));

  const values = { ...(file?.values ?? {}), ...Object.fromEntries(Object.entries(deps.env).filter(([k, v]) => k.startsWith('LSMNS_') && v)) } as Record<string, string | undefined>;
  const mode = values.LSMNS_SHIM_MODE ?? 'standalone';
  const client = values.LSMNS_HOOK_CLIENT ?? `/opt/lsmns/bin/${CLIENT}`;
  const front = `${dirname(client)}/${FRONT}`;
  checks.push(programCheck('shim front', front, path));
  checks.push(programCheck('hook client', client, path));
  checks.push(...manifestCheck(opts.stateDir));
  checks.push(runtimeCheck(deps, front, o.containerdConfig));
  const why = await deps.health(opts.socket);
  if (why === null) checks.push(ok('agent', `${opts.socket} answers /healthz`));
  else if (mode === 'served') checks.push(bad('agent', `${opts.socket}: ${why}; served containers cannot start`, `start it: systemctl start lsmns-agent.socket, or lsmns agent --config ${path}`));
  else checks.push(ok('agent', `not answering (${why}); standalone mode does not need it`));
  if (deps.nodeLabels) {
    try {
      const labels = await deps.nodeLabels();
      const off = LABELS.filter((l) => labels[l] !== 'true');
      checks.push(off.length === 0 ? ok('node labels', LABELS.map((l) => `${l}=true`).join(', ')) : bad('node labels', off.map((l) => `${l}=${labels[l] ?? '(missing)'}`).join(', '), 'the agent with --node publishes them: check its logs (kubectl -n lsmns-system logs ds/lsmns-agent)'));
    } catch (e) {
      checks.push(bad('node labels', toLsmnsError(e).message, 'check --kubeconfig and --node'));
    }
  }
  return { ready: checks.every((c) => c.ok), config: path, checks };
}

/** GET /healthz over the agent's unix socket, bounded by a timeout. */
export function socketHealth(socket: string, timeoutMs = 3000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/healthz', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? null : `answered HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => { req.destroy(); resolve(`no answer within ${timeoutMs} ms`); });
    req.on('error', (e) => resolve(`not reachable (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    req.end();
  });
}

export function renderDoctorText(r: DoctorReport): string {
  const lines = r.checks.flatMap((c) => [`${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(16)} ${c.detail}`, ...(c.remedy && !c.ok ? [`      ${''.padEnd(16)} remedy: ${c.remedy}`] : [])]);
  lines.push(r.ready ? 'ready: this node can start lsmns containers' : `not ready: ${r.checks.filter((c) => !c.ok).length} problem(s) above`);
  return lines.join('\n');
}
