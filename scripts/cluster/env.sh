# Sourced by scripts/cluster/*.sh: where the one-node cluster keeps its state (all under .cluster/ in the repo)
# and the addresses its components use. Ports are off the usual ones so that a cluster already on the machine
# is left alone.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
C=$repo/.cluster
# shellcheck source=versions
. "$repo/scripts/cluster/versions"
PKI=$C/pki LOGS=$C/logs PIDS=$C/pids NODE=$C/node
NODE_NAME=${LSMNS_CLUSTER_NODE:-$(hostname | tr 'A-Z' 'a-z')}
# The address the API server advertises (the kubernetes Service's endpoint) and the kubelet registers.
NODE_IP=${LSMNS_CLUSTER_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
ETCD_PORT=12379 ETCD_PEER_PORT=12380 APISERVER_PORT=16443
SERVICE_CIDR=10.96.0.0/16 KUBERNETES_SVC_IP=10.96.0.1 POD_CIDR=10.244.0.0/24 BRIDGE=lsmnsbr0
CTRD_SOCK=$C/containerd/containerd.sock
# The node's containerd: Debian's 1.6 (config version 2), or the containerd 2.x that build-containerd.sh built once
# swap-containerd.sh has named its bin directory in $C/containerd-bin (config version 3). node_runtime sets
# CTRD_BIN ('' for Debian's), CONTAINERD and CTR from that file.
node_runtime() {
  CTRD_BIN=$(cat "$C/containerd-bin" 2>/dev/null || true)
  CONTAINERD=${CTRD_BIN:+$CTRD_BIN/}containerd CTR=${CTRD_BIN:+$CTRD_BIN/}ctr
}
node_runtime
# Host paths the node's components use (containerd 1.6 hard-codes /run/containerd/s for shim sockets; the agent's
# hostPath volumes, among them the runtimes' configs, which the agent reads for the runtime-handler fact; CNI's
# state): inside the node's private mount namespace each is a bind mount of $NODE/<path>.
NODE_PATHS=(/run/containerd /run/containers /run/netns /run/lsmns /var/lib/lsmns /etc/lsmns /etc/containerd /etc/crio /opt/lsmns
  /usr/share/containers/oci/hooks.d /var/lib/cni /var/log/containers)
# containerd's config as the node sees it (/etc/containerd/config.toml in its mount namespace), written from outside.
CTRD_CONFIG=$NODE/etc/containerd/config.toml
# The kubelet's cgroups go under this parent, so cluster-down can remove exactly those.
CGROUP_ROOT=/lsmns-cluster
kubectl() { "$C/bin/kubectl" --kubeconfig "$C/admin.kubeconfig" "$@"; }
log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# start NAME CMD...: a control-plane process in the background, its own session, pid in pids/NAME.pid.
start() { local n=$1; shift; setsid "$@" >> "$LOGS/$n.log" 2>&1 < /dev/null & echo $! > "$PIDS/$n.pid"; }
# wait_for WHAT SECONDS CMD...: polls CMD every 0.5 s.
wait_for() {
  local what=$1 n=$(( $2 * 2 )); shift 2
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what not ready after ${n}x0.5 s; see $LOGS"
}

# The default admission plugins are on; the ones lsmns depends on are named so that they cannot silently go.
start_apiserver() {
  start kube-apiserver "$C/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP
}

# write_containerd_config VERSION: containerd's config at CTRD_CONFIG, version 2 (containerd 1.6) or 3 (2.x), private
# to the cluster, without the lsmns handler (lsmns install adds it, as a user would). Each major has its own root:
# images are imported into each.
write_containerd_config() {
  local restrict=false capbnd
  capbnd=$(awk '/^CapBnd/{print $2}' /proc/self/status)
  # CRI gives sandboxes oom_score_adj -998, which needs CAP_SYS_RESOURCE; where root lacks it, clamp instead.
  (( (0x$capbnd >> 24) & 1 )) || restrict=true
  mkdir -p "$(dirname "$CTRD_CONFIG")"
  # Both versions: the same sockets, state dir and disabled snapshotters.
  local common
  common=$(cat <<TOML
# The default state dir, as on a user's node: the agent DaemonSet mounts its bundle directories by that path.
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
TOML
)
  if [ "$1" = 2 ]; then cat > "$CTRD_CONFIG" <<TOML
version = 2
root = "$C/containerd/root"
$common
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "lsmns.test/pause:1"
  disable_tcp_service = true
  restrict_oom_score_adj = $restrict
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$C/cni/net.d"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
TOML
  else cat > "$CTRD_CONFIG" <<TOML
version = 3
root = "$C/containerd/root-v3"
$common
[plugins.'io.containerd.internal.v1.opt']
  path = "$C/containerd/opt-v3"
# containerd 2.x splits the CRI plugin: the server, the images, the runtime.
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "lsmns.test/pause:1"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = $restrict
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = "$C/cni/net.d"
[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
TOML
  fi
}

# stop NAME...: TERM by pid file, all at once; waits up to 10 s for them, then SIGKILL. Says what it stopped unless
# quiet is set. Both functions run under set -e too (swap-containerd.sh): nothing in them may fail.
stop() {
  local n p pids=() names=()
  for n in "$@"; do
    [ -f "$PIDS/$n.pid" ] || continue
    p=$(cat "$PIDS/$n.pid"); rm -f "$PIDS/$n.pid"
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p"; pids+=("$p"); names+=("$n($p)")
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  for _ in $(seq 1 100); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "${quiet:-}" ] || log "stopped ${names[*]}"
}

# stop_node: the kubelet, every pod's containers (while containerd still runs: the shims would otherwise keep
# them), containerd, this containerd's shims, and the node's mount namespace with them.
stop_node() {
  stop kubelet
  if [ -S "$CTRD_SOCK" ] && [ -f "$PIDS/containerd.pid" ]; then
    local t
    ctrc() { timeout 20 "$CTR" --address "$CTRD_SOCK" -n k8s.io "$@"; }
    for t in $(ctrc tasks ls -q 2>/dev/null); do ctrc tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $(ctrc tasks ls -q 2>/dev/null); do ctrc tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  # Shims of THIS containerd (matched by its socket in their argv), one by one.
  local d args
  for d in /proc/[0-9]*; do
    args=$( { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null) || continue
    case "$args" in *containerd-shim-runc-v2*"-address $CTRD_SOCK "*) kill -KILL "${d#/proc/}" 2>/dev/null && { [ -n "${quiet:-}" ] || log "killed shim ${d#/proc/}"; } ;; esac
  done
  stop node
}
