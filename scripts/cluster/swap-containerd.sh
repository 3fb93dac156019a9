#!/bin/bash
# swap-containerd.sh 1|2: puts containerd 1.6 (Debian's, config version 2) or 2.x (CONTAINERD2, built by
# build-containerd.sh, config version 3) under the running test cluster's kubelet, and nothing else: the control
# plane, lsmns's objects and the node's state (.cluster/node) stay. The node (kubelet, containerd, its mount
# namespace) is stopped, containerd's config is written anew for that version with the handler from
# `lsmns install --containerd N --write` as a user would, the images are imported into the new containerd before the
# kubelet starts again, and the kubelet recreates every pod on it. Returns when the node runs that containerd and
# lsmns's pods are Ready on it. A no-op when the node already runs it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
case "${1:-}" in 1) want=; config=2 ;; 2) want=$("$repo/scripts/cluster/build-containerd.sh"); config=3 ;; *) die "usage: swap-containerd.sh 1|2" ;; esac
[ -f "$PIDS/kube-apiserver.pid" ] && kill -0 "$(cat "$PIDS/kube-apiserver.pid")" 2>/dev/null || die "no cluster running (make cluster-up)"
[ "$want" = "$CTRD_BIN" ] && { log "the node already runs $("$CONTAINERD" --version)"; exit 0; }
t=$(date +%s)
stop_node
# What the old containerd and its pods left: runtime state (its sandboxes were not torn down through CNI, so their
# addresses are still allocated too). Nothing is mounted there any more: the node's mount namespace is gone.
rm -rf "${NODE:?}/run/containerd/"* "$NODE/var/lib/cni/networks/"*
if [ -n "$want" ]; then echo "$want" > "$C/containerd-bin"; else rm -f "$C/containerd-bin"; fi
node_runtime
write_containerd_config "$config"
node "$repo/bin/lsmns.cjs" install --containerd "$config" --write --containerd-config "$CTRD_CONFIG" --shim /opt/lsmns/bin/lsmns-runtime >&2
version=$("$CONTAINERD" --version | awk '{print $3}')
start node unshare -m --propagation private "$repo/scripts/cluster/node.sh"
runtime() { kubectl get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'; }
# The kubelet reports it as a semantic version (v2.4.2 as 2.4.2, 1.6.20~ds1 as 1.6.20).
on_version() { [ "$(runtime)" = "containerd://$(sed 's/^v//; s/[~+].*//' <<< "$version")" ]; }
wait_for "node $NODE_NAME on containerd $version" 120 on_version
wait_for "node $NODE_NAME Ready" 60 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
# lsmns's pods Ready, each container one that this containerd runs (the API may still show the old ones as Ready).
ready_here() {
  local ids want_ids
  ids=$("$CTR" --address "$CTRD_SOCK" -n k8s.io containers ls -q)
  want_ids=$(kubectl -n lsmns-system get pods -o jsonpath='{range .items[*]}{range .status.containerStatuses[*]}{.ready} {.containerID}{"\n"}{end}{end}')
  [ -n "$want_ids" ] || return 1
  while read -r ready id; do
    [ "$ready" = true ] && grep -qx "${id#containerd://}" <<< "$ids" || return 1
  done <<< "$want_ids"
}
wait_for "lsmns's pods Ready on containerd $version" 180 ready_here
# The webhook's Service on the controllers' new addresses (its failurePolicy is Fail).
webhook_ready() {
  local pods eps
  pods=$(kubectl -n lsmns-system get pods -l app.kubernetes.io/name=lsmns-controller -o jsonpath='{.items[*].status.podIP}' | tr ' ' '\n' | sort)
  eps=$(kubectl -n lsmns-system get endpointslices -l kubernetes.io/service-name=lsmns-webhook \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' | sort)
  [ -n "$pods" ] && [ "$pods" = "$eps" ]
}
wait_for "the webhook's endpoints" 60 webhook_ready
log "the node runs containerd $version (config version $config) in $(( $(date +%s) - t )) s"
