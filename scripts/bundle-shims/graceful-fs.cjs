'use strict';
// Bundles only: proper-lockfile's graceful-fs, replaced by plain fs. graceful-fs queues opens on EMFILE and
// patches fs (loading streams) when it loads: a cost on every container start, for a case a short-lived hook
// that opens a handful of files does not have.
module.exports = require('node:fs');
