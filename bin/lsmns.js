#!/usr/bin/env node
// lsmns entry point. Every command goes through oclif, except the paths that run on each container start
// (the hook, and the runtime shim), which are dispatched here so that oclif is never loaded for them.
const argv = process.argv.slice(2);

const { run, flush } = await import('@oclif/core');
try {
  await run(argv, import.meta.url);
  await flush();
} catch (e) {
  const exit = e?.oclif?.exit;
  if (exit === 0) process.exit(0);
  // Errors before a command runs (an unknown command or topic) are invalid input.
  process.stderr.write(`lsmns: ${String(e?.message ?? e).split('\n')[0]}\n  remedy: see lsmns --help\n`);
  process.exitCode = typeof exit === 'number' && exit !== 127 ? exit : 2;
}
