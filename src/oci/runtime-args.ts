// Reads a runc/crun command line the way the runtime will: global flags, the verb, and for create/run the
// bundle, container id, log file and preserved fds. Pure; the argument list itself is never changed.

/** Global flags that take a value (runc and crun); urfave/cli also accepts one dash and --flag=value. */
const GLOBAL_VALUE = new Set(['root', 'log', 'log-format', 'log-level', 'criu', 'rootless', 'cgroup-manager']);
/** Verb flags that take a value, for create and run (runc and crun). */
const VERB_VALUE = new Set(['bundle', 'b', 'console-socket', 'pid-file', 'preserve-fds', 'config', 'f']);

export interface RuntimeArgs {
  verb: string | null;
  /** Index of the verb in the argument list. */
  verbAt: number;
  log: string | null;
  logFormat: string | null;
  root: string | null;
  /** create/run only: --bundle/-b, or null for the working directory. */
  bundle: string | null;
  containerId: string | null;
  preserveFds: number;
  /** crun's --config/-f: a spec file other than config.json. */
  config: string | null;
}

function flagName(a: string): { name: string; value: string | null } | null {
  const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(a);
  return m ? { name: m[1]!, value: m[2] ?? null } : null;
}

export function parseRuntimeArgs(args: readonly string[]): RuntimeArgs {
  const r: RuntimeArgs = { verb: null, verbAt: -1, log: null, logFormat: null, root: null, bundle: null, containerId: null, preserveFds: 0, config: null };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    const f = flagName(a);
    if (!f) break;
    if (!GLOBAL_VALUE.has(f.name)) continue;
    const value = f.value ?? args[++i] ?? null;
    if (f.name === 'log') r.log = value;
    else if (f.name === 'log-format') r.logFormat = value;
    else if (f.name === 'root') r.root = value;
  }
  if (i >= args.length) return r;
  r.verb = args[i]!;
  r.verbAt = i;
  if (r.verb !== 'create' && r.verb !== 'run') return r;
  for (i++; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      r.containerId ??= args[i + 1] ?? null;
      break;
    }
    const f = flagName(a);
    if (!f) {
      r.containerId ??= a;
      continue;
    }
    if (!VERB_VALUE.has(f.name)) continue;
    const value = f.value ?? args[++i] ?? null;
    if (f.name === 'bundle' || f.name === 'b') r.bundle = value;
    else if (f.name === 'preserve-fds') r.preserveFds = /^\d{1,4}$/.test(value ?? '') ? Number(value) : 0;
    else if (f.name === 'config' || f.name === 'f') r.config = value;
  }
  return r;
}

/** One error line in the runtime's --log file, in its --log-format (containerd reads errors from there). */
export function runtimeLogLine(format: string | null, msg: string, now: Date): string {
  const time = now.toISOString();
  if (format === 'text') return `time="${time}" level=error msg=${JSON.stringify(msg)}\n`;
  return `${JSON.stringify({ level: 'error', msg, time })}\n`;
}
