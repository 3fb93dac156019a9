#!/bin/bash
# node.sh: the node's half of the cluster, run by up.sh under `unshare -m --propagation private`: containerd and
# the kubelet in a private mount namespace, where each host path in NODE_PATHS is a bind mount of .cluster/node/...
# So the agent's hostPath volumes, the shim front in /opt/lsmns, containerd's shim sockets, CNI state and every
# volume the kubelet mounts stay inside .cluster and vanish with the namespace. Stays in the foreground while they
# run (cluster-down stops them by their pid files, then this exits).
set -euo pipefail
. "$(dirname "$0")/env.sh"
for p in "${NODE_PATHS[@]}"; do mkdir -p "$NODE$p"; mount --bind "$NODE$p" "$p"; done
# The kubelet sets these kernel tunables where they differ (cm.setupKernelTunables), machine-wide. Here it reads
# them from files bind-mounted over /proc/sys in this namespace only, so the host's values stay as they are.
mkdir -p "$NODE/sysctl"
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%=*} v=${kv#*=}
  [ "$(cat "/proc/sys/$k")" = "$v" ] && continue
  f=$NODE/sysctl/${k//\//.}
  echo "$v" > "$f"
  mount --bind "$f" "/proc/sys/$k"
done
# A clean environment, as a service manager gives: no LSMNS_* variables, no lsmns on the PATH. A built containerd's
# directory comes first: containerd finds its shim (containerd-shim-runc-v2) on the PATH, and Debian's 1.6 shim in
# /usr/bin does not start for containerd 2.x ("start failed: ... type with url ...: not found").
envc=(env -i "PATH=${CTRD_BIN:+$CTRD_BIN:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root)
echo "--- $("$CONTAINERD" --version)" >> "$LOGS/containerd.log"
"${envc[@]}" "$CONTAINERD" --config /etc/containerd/config.toml >> "$LOGS/containerd.log" 2>&1 &
echo $! > "$PIDS/containerd.pid"
for _ in $(seq 1 300); do
  [ -S "$CTRD_SOCK" ] && "$CTR" --address "$CTRD_SOCK" plugins ls 2>/dev/null | grep -q 'io.containerd.grpc.v1 *cri .*ok' && break
  kill -0 "$(cat "$PIDS/containerd.pid")" 2>/dev/null || { echo "containerd died" >&2; exit 1; }
  sleep 0.1
done
# A containerd swapped in under a running cluster (swap-containerd.sh) gets the images first, so that the kubelet
# finds them when it recreates the pods.
if [ -f "$C/node-images" ]; then
  while read -r a; do "$CTR" --address "$CTRD_SOCK" -n k8s.io images import "$a" >/dev/null; done < "$C/node-images"
fi
"${envc[@]}" "$C/bin/kubelet" --config "$C/kubelet.yaml" --kubeconfig "$C/kubelet.kubeconfig" --root-dir "$C/kubelet" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=2 >> "$LOGS/kubelet.log" 2>&1 &
echo $! > "$PIDS/kubelet.pid"
wait
