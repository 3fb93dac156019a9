// A mocha root hook (loaded with --require): mocha runs without --exit, so a server, socket, timer or child
// process that a test leaves open keeps the run alive. Instead of hanging, the run names what is still open
// and fails, a few seconds after the last test.

const GRACE_MS = 5_000;

/** What keeps the event loop alive, for a person: stdio excepted (it never does). */
function openHandles(): string[] {
  // _getActiveHandles is node's own (undocumented) view with the objects; getActiveResourcesInfo has names only.
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.();
  if (!handles) return process.getActiveResourcesInfo();
  return handles.filter((h) => h !== process.stdout && h !== process.stderr && h !== process.stdin).map((h) => {
    const o = h as { constructor: { name: string }; pid?: number; spawnargs?: string[]; address?: () => unknown; remoteAddress?: string; _pipeName?: string; _idleTimeout?: number };
    const kind = o.constructor.name;
    if (kind === 'ChildProcess') return `child process ${o.pid} (${o.spawnargs?.join(' ').slice(0, 120)})`;
    if (kind === 'Server') return `server on ${JSON.stringify(o.address?.())}`;
    if (kind === 'Socket') return `socket to ${o.remoteAddress ?? o._pipeName ?? '?'}`;
    if (kind === 'Timeout') return `timer of ${o._idleTimeout} ms`;
    return kind;
  });
}

export const mochaHooks = {
  afterAll(): void {
    setTimeout(() => {
      process.stderr.write(`\nexit-check: ${GRACE_MS} ms after the last test, these are still open: ${openHandles().join('; ')}\n`);
      // Mocha sets the exit code to its failure count in an 'exit' listener; this one runs after it.
      process.on('exit', () => { process.exitCode = 1; });
      process.exit(1);
    }, GRACE_MS).unref();
  },
};
