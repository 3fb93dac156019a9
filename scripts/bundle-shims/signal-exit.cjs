'use strict';
// Bundles only: signal-exit, cut down to normal exits. The full module loads assert
// (and its colour support) and hooks every signal on each container start. A hook killed by its runtime's
// timeout gets SIGKILL, which no handler sees; a lock left behind goes stale (proper-lockfile's `stale`) anyway.
function onExit(cb) {
  const listener = (code) => cb(code, null);
  process.once('exit', listener);
  return () => process.removeListener('exit', listener);
}
// v3's default export (proper-lockfile) and v4's named one (execa, on the securityfs path).
module.exports = onExit;
module.exports.onExit = onExit;
