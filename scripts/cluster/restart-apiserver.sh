#!/bin/bash
# restart-apiserver.sh: stops the test cluster's kube-apiserver (SIGTERM, by its pid file) and starts it again with
# the same flags, for the fault tests: clients' watches break and must recover by themselves.
set -euo pipefail
. "$(dirname "$0")/env.sh"
f=$PIDS/kube-apiserver.pid
[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || die "no kube-apiserver running (make cluster-up)"
p=$(cat "$f")
kill -TERM "$p"
# It drains open requests (the watches) first; after 30 s it is killed.
for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
kill -0 "$p" 2>/dev/null && { log "kube-apiserver (pid $p) still running after 30 s: SIGKILL"; kill -KILL "$p"; sleep 0.5; }
start_apiserver
wait_for kube-apiserver 90 kubectl get --raw /readyz
log "kube-apiserver restarted (pid $p -> $(cat "$f"))"
